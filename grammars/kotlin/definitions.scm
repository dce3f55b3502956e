; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot). `interface`, `class` and `enum class` are all
; `class_declaration`, told apart by their keyword.
(source_file (function_declaration name: (identifier) @name) @definition.function)
(class_body (function_declaration name: (identifier) @name) @definition.method)
(class_declaration "class" name: (identifier) @name) @definition.class
(class_declaration "interface" name: (identifier) @name) @definition.interface
(object_declaration name: (identifier) @name) @definition.class
(type_alias type: (identifier) @name) @definition.type
; `const val`.
((property_declaration
   (modifiers (property_modifier) @_const)
   (variable_declaration (identifier) @name)) @definition.constant
 (#eq? @_const "const"))
