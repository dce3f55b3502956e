; TOML defines nothing other files can refer to.
