; `@import url(...)`, `@import "x.css"`.
(import_statement) @import
