; `namespace X;`, `use A\B;` and `require`/`include` statements.
(namespace_definition !body) @import
(namespace_use_declaration) @import
(expression_statement
  [(require_expression)
   (require_once_expression)
   (include_expression)
   (include_once_expression)]) @import
