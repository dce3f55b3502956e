; Units a completion is checked in: `[table]` and `[[array.table]]` sections with their
; key/value pairs.
(table) @scope
(table_array_element) @scope
