; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot).
(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.class
(module (expression_statement (assignment left: (identifier) @name) @definition.constant))
