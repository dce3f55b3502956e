; Units of code a completion is checked in and an explanation is about.
(method_declaration) @scope
(constructor_declaration) @scope
(destructor_declaration) @scope
(operator_declaration) @scope
(conversion_operator_declaration) @scope
(local_function_statement) @scope
(lambda_expression) @scope
(property_declaration) @scope
(class_declaration) @scope
(struct_declaration) @scope
(interface_declaration) @scope
(record_declaration) @scope
(enum_declaration) @scope
(namespace_declaration) @scope
