"""Built-in auth providers plugins."""
