"""Built-in webhooks plugins."""
