"""The records and their change logs: users and their fields, changes, API keys,
search items, permission rules, export and erasure."""
