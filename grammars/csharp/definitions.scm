; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot).
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(local_function_statement name: (identifier) @name) @definition.function
(class_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.type
(delegate_declaration name: (identifier) @name) @definition.type
; `const` fields.
((field_declaration
   (modifier) @_const
   (variable_declaration (variable_declarator name: (identifier) @name))) @definition.constant
 (#eq? @_const "const"))
