; Units of code a completion is checked in and an explanation is about.
(function_declaration) @scope
(function_definition) @scope
