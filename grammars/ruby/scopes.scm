; Units of code a completion is checked in and an explanation is about.
(method) @scope
(singleton_method) @scope
(class) @scope
(singleton_class) @scope
(module) @scope
(lambda) @scope
(do_block) @scope
(block) @scope
