; Units of code a completion is checked in and an explanation is about.
(function_definition) @scope
(struct_specifier body: (_)) @scope
(union_specifier body: (_)) @scope
(enum_specifier body: (_)) @scope
