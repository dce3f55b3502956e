; Units of code a completion is checked in and an explanation is about.
(function_definition) @scope
(method_declaration) @scope
(anonymous_function) @scope
(arrow_function) @scope
(class_declaration) @scope
(interface_declaration) @scope
(trait_declaration) @scope
(enum_declaration) @scope
(namespace_definition body: (_)) @scope
