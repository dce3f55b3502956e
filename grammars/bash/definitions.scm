; Named definitions other files can use: @name is the name, the outer capture the whole
; definition (its kind after the dot).
(function_definition name: (word) @name) @definition.function
; `readonly X=1`, `declare -r X=1`.
(declaration_command "readonly" (variable_assignment name: (variable_name) @name)) @definition.constant
((declaration_command
   "declare"
   (word) @_flag
   (variable_assignment name: (variable_name) @name)) @definition.constant
 (#match? @_flag "^-[a-zA-Z]*r"))
