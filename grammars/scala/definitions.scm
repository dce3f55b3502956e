; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot). A `def` at file level is a function, one in a
; class, object or trait body a method.
(compilation_unit (function_definition name: (identifier) @name) @definition.function)
(template_body (function_definition name: (identifier) @name) @definition.method)
(template_body (function_declaration name: (identifier) @name) @definition.method)
(class_definition name: (identifier) @name) @definition.class
(object_definition name: (identifier) @name) @definition.class
(trait_definition name: (identifier) @name) @definition.interface
(enum_definition name: (identifier) @name) @definition.type
(type_definition name: (type_identifier) @name) @definition.type
; Capitalised `val`s at file level or in a body: Scala's constant convention.
(((compilation_unit (val_definition pattern: (identifier) @name) @definition.constant))
 (#match? @name "^[A-Z]"))
((template_body (val_definition pattern: (identifier) @name) @definition.constant)
 (#match? @name "^[A-Z]"))
