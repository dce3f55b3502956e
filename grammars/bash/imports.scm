; `source file` and `. file`.
((command name: (command_name (word) @_cmd)) @import
 (#any-of? @_cmd "source" "."))
