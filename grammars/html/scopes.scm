; Units a completion is checked in: elements, with inline scripts and style sheets.
(element) @scope
(script_element) @scope
(style_element) @scope
