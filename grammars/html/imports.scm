; What a page pulls in: `<script src=...>`, `<link ...>` (style sheets, icons, preloads).
((script_element (start_tag (attribute (attribute_name) @_attr))) @import
 (#eq? @_attr "src"))
((element (start_tag (tag_name) @_tag)) @import
 (#eq? @_tag "link"))
