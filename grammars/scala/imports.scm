; A file's `package a.b` clause (not a `package a { ... }` block) and its imports.
(package_clause !body) @import
(import_declaration) @import
