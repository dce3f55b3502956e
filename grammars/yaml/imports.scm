; YAML has no imports.
