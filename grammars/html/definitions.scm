; HTML defines nothing other files can refer to by name.
