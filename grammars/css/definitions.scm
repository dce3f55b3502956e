; Named definitions other files can use: custom properties (`--x: ...`) and `@keyframes`.
((declaration (property_name) @name) @definition.constant
 (#match? @name "^--"))
(keyframes_statement (keyframes_name) @name) @definition.constant
