; YAML defines nothing other files can refer to.
