; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot).
(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.method
(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.interface
(enum_declaration name: (name) @name) @definition.type
(const_declaration (const_element (name) @name)) @definition.constant
