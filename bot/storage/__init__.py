"""The store by concern: one module per kind of row, one `Store` (bot/store.py) owning the connection and its lock."""
