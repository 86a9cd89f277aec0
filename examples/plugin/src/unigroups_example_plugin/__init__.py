"""An example unigroups plugin: Acme CRM. Discovery must not import this package."""
