; Units of code a completion is checked in and an explanation is about.
; Shared by TypeScript and TSX.
(function_declaration) @scope
(generator_function_declaration) @scope
(function_expression) @scope
(arrow_function) @scope
(method_definition) @scope
(class_declaration) @scope
(interface_declaration) @scope
(enum_declaration) @scope
