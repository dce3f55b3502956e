; Units a completion is checked in: members whose value is an object or an array.
(pair value: [(object) (array)]) @scope
