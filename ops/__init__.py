"""The operator's tools, run by ``manage.py``: imports, check-invariants, identity
migration. Not part of the Lambda package."""
