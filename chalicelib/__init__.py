"""The users service: user records, permissions, change logs, API keys and sessions."""
