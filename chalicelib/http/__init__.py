"""The HTTP edge: what routes read from a request and add to an answer, CORS, the
per-request log line, the OpenAPI document and the web UI's files."""
