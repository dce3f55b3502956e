; Units of code a completion is checked in and an explanation is about. (kotlin-ng has no
; `body` fields: a function's body is its `function_body` child, a class's its `class_body`.)
(function_declaration) @scope
(secondary_constructor) @scope
(anonymous_function) @scope
(lambda_literal) @scope
(class_declaration) @scope
(object_declaration) @scope
(companion_object) @scope
