"""One DynamoDB connection per container, made on first use."""

from __future__ import annotations

import os
import subprocess
import sys

from chalicelib import auth, models, sessions
from chalicelib.changes import SYSTEM
from chalicelib.models import MODELS
from chalicelib.users import create_user
from tests.conftest import ROOT


def test_every_model_and_transaction_share_one_botocore_client(aws: None) -> None:
    user = create_user(SYSTEM, {"email": "one@example.org"}, may_set_permissions=True)
    key = auth.make_api_key(SYSTEM, user.id)["key"]
    assert auth.decide(f"Bearer {key}").user_id == user.id
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
        "from chalicelib import models\n"
        "assert models.connection.cache_info().currsize == 0\n"
        "assert all(model._connection is None for model in models.MODELS)\n"
        "print('lazy')\n"
    )
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
    assert done.stdout.strip() == "lazy"
