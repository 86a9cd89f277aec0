"""An example unigroups plugin. Importing this package must not happen at discovery."""
