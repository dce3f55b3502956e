; Units a completion is checked in: rule sets and the at-rules that hold blocks.
(rule_set) @scope
(media_statement) @scope
(supports_statement) @scope
(keyframes_statement) @scope
(at_rule) @scope
