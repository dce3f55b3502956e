; The package header and the imports at the top of a file.
(package_header) @import
(import) @import
