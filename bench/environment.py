"""The settings the tests and the benchmark run under: moto, the ``test`` stage.

PynamoDB reads its settings when the service is imported, so ``use()`` must
run before ``app`` or ``chalicelib`` is imported; under moto's ``mock_aws`` no
endpoint may be set.
"""

from __future__ import annotations

import os


def use() -> None:
    """Set this process's environment for the service on moto."""
    os.environ.update(
        SERVICE_ENV="test",
        TABLE_PREFIX="users-test-",
        AWS_DEFAULT_REGION="eu-north-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        SESSION_SECRET="test-session-secret-0123456789abcdef",
        # No wait between DynamoDB retries: injected faults are retried as in
        # AWS (same attempts and retry quota) without botocore's seconds of
        # backoff; tests/test_connection.py covers the backoff itself.
        DYNAMODB_MAX_BACKOFF="0",
    )
    os.environ.pop("DYNAMODB_ENDPOINT", None)
    os.environ.pop("AWS_PROFILE", None)
