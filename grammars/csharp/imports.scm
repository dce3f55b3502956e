; `using` directives (`using System;`, `using static X;`, `using A = B;`) and a file-scoped
; `namespace X;`.
(using_directive) @import
(file_scoped_namespace_declaration) @import
