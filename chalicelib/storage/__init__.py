"""DynamoDB: the tables, one change's items written together, batch reads, page
cursors and If-Match versions."""
