; Units of code a completion is checked in and an explanation is about. class, struct,
; enum, extension and actor are all `class_declaration`.
(function_declaration) @scope
(init_declaration) @scope
(deinit_declaration) @scope
(subscript_declaration) @scope
(lambda_literal) @scope
(class_declaration) @scope
(protocol_declaration) @scope
