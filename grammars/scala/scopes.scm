; Units of code a completion is checked in and an explanation is about.
(function_definition) @scope
(function_declaration) @scope
(lambda_expression) @scope
(class_definition) @scope
(object_definition) @scope
(trait_definition) @scope
(enum_definition) @scope
(given_definition) @scope
(extension_definition) @scope
