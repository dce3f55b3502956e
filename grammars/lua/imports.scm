; `local x = require("x")`, `x = require "x"`, a bare `require("x")`.
((variable_declaration
   (assignment_statement
     (expression_list value: (function_call name: (identifier) @_fn)))) @import
 (#eq? @_fn "require"))
((chunk
   (assignment_statement
     (expression_list value: (function_call name: (identifier) @_fn))) @import)
 (#eq? @_fn "require"))
((chunk (function_call name: (identifier) @_fn) @import)
 (#eq? @_fn "require"))
