"""The built-in backends, one module or folder per vendor."""
