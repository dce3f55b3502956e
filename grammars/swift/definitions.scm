; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot). A `func` at file level is a function, one in a type
; body a method; `declaration_kind` tells class, struct, enum and actor apart.
(source_file (function_declaration name: (simple_identifier) @name) @definition.function)
(class_body (function_declaration name: (simple_identifier) @name) @definition.method)
(enum_class_body (function_declaration name: (simple_identifier) @name) @definition.method)
(protocol_function_declaration name: (simple_identifier) @name) @definition.method
(class_declaration declaration_kind: ["class" "struct" "actor"] name: (type_identifier) @name) @definition.class
(class_declaration declaration_kind: "enum" name: (type_identifier) @name) @definition.type
(protocol_declaration name: (type_identifier) @name) @definition.interface
(typealias_declaration name: (type_identifier) @name) @definition.type
; File-level `let`.
((source_file
   (property_declaration
     (value_binding_pattern) @_let
     name: (pattern bound_identifier: (simple_identifier) @name)) @definition.constant)
 (#eq? @_let "let"))
