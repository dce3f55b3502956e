; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot). A `def` at file level is a function, one in a class
; or module body a method.
(program (method name: (_) @name) @definition.function)
(body_statement (method name: (_) @name) @definition.method)
(singleton_method name: (_) @name) @definition.method
(class name: (constant) @name) @definition.class
(class name: (scope_resolution name: (_) @name)) @definition.class
(module name: (constant) @name) @definition.class
(module name: (scope_resolution name: (_) @name)) @definition.class
(assignment left: (constant) @name) @definition.constant
