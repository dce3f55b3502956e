; Units of code a completion is checked in and an explanation is about.
(function_definition) @scope
(class_definition) @scope
(decorated_definition) @scope
