; Units of code a completion is checked in and an explanation is about.
(function_item) @scope
(impl_item) @scope
(trait_item) @scope
(struct_item) @scope
(enum_item) @scope
(mod_item) @scope
(closure_expression) @scope
