; Units of code a completion is checked in and an explanation is about.
(function_definition) @scope
(lambda_expression) @scope
(class_specifier body: (_)) @scope
(struct_specifier body: (_)) @scope
(union_specifier body: (_)) @scope
(enum_specifier body: (_)) @scope
(namespace_definition) @scope
