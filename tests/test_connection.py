"""One DynamoDB connection per container, made on first use; its retries and their waits."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

from bench.harness import fresh_clients, without_backoff
from chalicelib.http import container
from chalicelib.identity import auth, sessions
from chalicelib.ids import SYSTEM
from chalicelib.records import apikeys
from chalicelib.records.users import NewUser, create_user
from chalicelib.storage import models
from chalicelib.storage.models import MODELS
from tests.conftest import ROOT
from tests.faults import THROTTLING, inject_faults


def fresh_python(code: str) -> str:
    """What ``code`` prints when run by a fresh interpreter in the project's folder."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_model_and_transaction_share_one_botocore_client(aws: None) -> None:
    user = create_user(SYSTEM, NewUser({"email": "one@example.org"}))
    key = apikeys.make_api_key(SYSTEM, user.id, container.settings())["key"]
    assert (
        auth.decide(
            f"Bearer {key}", container.session_secret, container.settings(), container.rulebook()
        ).user_id
        == user.id
    )
    sessions.start_session(user.id)
    assert models.User.get(user.id).email == "one@example.org"

    shared = models.connection()
    for model in MODELS:
        assert model._get_connection().connection is shared, model.__name__
    clients = {id(shared.client)}
    clients |= {id(model._get_connection().connection.client) for model in MODELS}
    assert clients == {id(shared.client)}


def test_importing_the_app_makes_no_connection_and_no_client() -> None:
    code = (
        "import app\n"
        "from chalicelib.storage import models\n"
        "assert models.connection.cache_info().currsize == 0\n"
        "assert all(model._connection is None for model in models.MODELS)\n"
        "print('lazy')\n"
    )
    done = fresh_python(code)
    assert done.strip() == "lazy"


def retry_delay(client: Any, attempts: int) -> float:
    """The wait the client's retry handler asks for after a throttled GetItem attempt."""
    operation = client.meta.service_model.operation_model("GetItem")
    response = AWSResponse("http://127.0.0.1/", 400, {}, None)
    parsed = {
        "Error": {"Code": "ThrottlingException", "Message": "slow down"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    replies = client.meta.events.emit(
        "needs-retry.dynamodb.GetItem",
        response=(response, parsed),
        endpoint=None,
        operation=operation,
        attempts=attempts,
        caught_exception=None,
        request_dict={"context": {}},
    )
    delays = [delay for _, delay in replies if delay is not None]
    assert len(delays) == 1, replies  # one retry handler, and it retries
    return float(delays[0])


def test_the_services_client_waits_between_throttled_attempts_as_botocore_does(
    aws: None,
) -> None:
    fresh_clients()  # one no earlier fault injection has taken the waits off
    client = models.connection().client
    assert max(retry_delay(client, 3) for _ in range(5)) > 0.5  # up to 4 s, drawn at random


def test_harness_without_backoff_retries_with_no_wait(aws: None) -> None:
    client = Connection(region=models.User.Meta.region).client
    without_backoff(client)
    assert max(retry_delay(client, 3) for _ in range(5)) == 0


def test_client_without_backoff_still_retries_with_botocores_attempts_and_quota(aws: None) -> None:
    with (
        inject_faults(share=1.0, kinds=[THROTTLING], full_retries=True) as injector,
        pytest.raises(PynamoDBException),
    ):
        models.User.get("nobody", consistent_read=True)
    # PynamoDB's max_retry_attempts (3) retries after the first attempt.
    assert injector.attempts["GetItem"] == 1 + models.User.Meta.max_retry_attempts


def test_the_services_client_is_botocores_dynamodb_client_built_without_listing_services(
    aws: None,
) -> None:
    shared = models.connection()
    plain: Any = botocore.session.get_session().create_client(
        "dynamodb", region_name=models.User.Meta.region
    )
    ours: Any = shared.client
    assert ours.meta.service_model.api_version == plain.meta.service_model.api_version
    assert ours.meta.service_model.operation_names == plain.meta.service_model.operation_names
    assert ours.meta.endpoint_url == plain.meta.endpoint_url
    assert ours.meta.region_name == plain.meta.region_name
    loader = shared.session.get_component("data_loader")
    assert loader.list_available_services("service-2") == ["dynamodb"]


def test_importing_the_app_loads_only_what_a_decision_needs() -> None:
    route_only = (
        "chalicelib.records.users",
        "chalicelib.records.user_views",
        "chalicelib.records.changes",
        "chalicelib.records.logs",
        "chalicelib.identity.identities",
        "chalicelib.records.idempotency",
        "chalicelib.records.validation",
        "chalicelib.records.search",
        "chalicelib.identity.oidc",
        "chalicelib.records.export",
        "joserfc",
        "email_validator",
    )
    code = (
        "import sys\n"
        "import app\n"
        f"print(' '.join(name for name in {route_only!r} if name in sys.modules))\n"
    )
    done = fresh_python(code)
    assert done.strip() == ""


def test_a_route_that_reads_records_does_not_load_the_email_checker() -> None:
    # email-validator compiles its grammar on import; only a write of an address needs it.
    code = (
        "import sys\n"
        "import app\n"
        "from chalicelib.records import user_views, search, record\n"
        "print('email_validator' in sys.modules)\n"
        "record.USER.by_name['email'].published_pattern\n"
        "print('email_validator' in sys.modules)\n"
    )
    done = fresh_python(code)
    assert done.split() == ["False", "True"]
