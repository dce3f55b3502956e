; Units a completion is checked in: keys whose value is a nested block (mapping or
; sequence), and the items of block sequences.
(block_mapping_pair value: (block_node)) @scope
(block_sequence_item) @scope
