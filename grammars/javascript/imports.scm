(import_statement) @import

; CommonJS: const x = require('./x'), const { a, b } = require('./x')
((lexical_declaration
   (variable_declarator
     value: (call_expression function: (identifier) @_fn))) @import
 (#eq? @_fn "require"))

((variable_declaration
   (variable_declarator
     value: (call_expression function: (identifier) @_fn))) @import
 (#eq? @_fn "require"))
