; Units of code a completion is checked in and an explanation is about.
(function_declaration) @scope
(method_declaration) @scope
(func_literal) @scope
(type_declaration) @scope
