; The package and import declarations at the top of a file.
(package_declaration) @import
(import_declaration) @import
