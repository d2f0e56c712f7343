"""``make run`` as a new user meets it: origins, the manage.py line, a taken port, a
fresh run on DynamoDB Local."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from devtools.local_stack import ROOT, PortInUse, service_env, wait_for
from devtools.oidc_provider import running_provider
from devtools.run_local import allowed_origins, manage_line


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_allowed_origins_from_the_environment_are_kept_and_the_api_origin_added() -> None:
    configured = "https://app.example.org, http://127.0.0.1:5173"
    assert allowed_origins(configured, 8000).split(",") == [
        "https://app.example.org",
        "http://127.0.0.1:5173",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
    ]


def test_allowed_origins_without_a_setting_are_the_api_origins_once() -> None:
    assert allowed_origins("", 8100) == "http://127.0.0.1:8100,http://localhost:8100"
    assert allowed_origins("http://localhost:8100", 8100).count("localhost") == 1


def test_manage_line_names_the_stack_and_no_secret() -> None:
    env = service_env("http://127.0.0.1:4567", TABLE_PREFIX="users-local-")
    line = manage_line(env)
    assert "DYNAMODB_ENDPOINT=http://127.0.0.1:4567" in line
    assert "TABLE_PREFIX=users-local-" in line
    assert line.endswith(".venv/bin/python manage.py")
    assert "SESSION_SECRET" not in line
    assert env["SESSION_SECRET"] not in line


def test_run_on_a_taken_port_says_which_and_how_to_change_it_in_one_line(taken_port: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.run_local"],
        cwd=ROOT,
        env={**os.environ, "PORT": str(taken_port)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"port {taken_port}" in done.stderr
    assert "PORT=" in done.stderr


def test_provider_on_a_taken_port_names_oidc_port(taken_port: int) -> None:
    with pytest.raises(PortInUse, match="OIDC_PORT"), running_provider(port=taken_port):
        pass


def test_fresh_run_serves_on_dynamodb_local_and_shows_the_new_admins_key() -> None:
    env = {
        # As a new shell has it: no AWS credentials, the stack makes up its own.
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        "FRESH": "1",
        # Ports the system picks, held from the start: none is raced for.
        "PORT": "0",
        "OIDC_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as run:
        try:
            assert run.stdout is not None
            lines = []
            for line in run.stdout:
                lines.append(line)
                if line.startswith("Ctrl-C"):
                    break
            shown = dict(line.split(":", 1) for line in lines if line[:1].isalpha() and ":" in line)
            assert "FRESH=1: in memory" in shown["DynamoDB Local"]
            key = shown["Admin API key"].split()[0]
            api = shown["API"].strip()
            issuer = shown["OpenID Provider"].split()[0]
            port = r"http://127\.0\.0\.1:[1-9][0-9]*"
            assert re.fullmatch(port + "/api/v1", api), api
            assert re.fullmatch(port, issuer), issuer
            wait_for(f"{api}/user/permissions", run)
            me = requests.get(
                f"{api}/user/me",
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=30,
            )
            assert me.status_code == 200
            assert me.json()["user"]["email"] == "admin@example.org"
        finally:
            run.send_signal(signal.SIGTERM)  # as Ctrl-C; SIGINT may be ignored in the background
            run.wait(timeout=60)
