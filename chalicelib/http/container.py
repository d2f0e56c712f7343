"""This container's settings and secrets, for the app's entry points (each route's
request and the authorizer): built from the environment on first use (``chalice
local`` and the test client lay the stage's variables over it before each
request), or given by ``use`` (the tests, the benchmark). Domain functions never
call these: they are given what they need. It also holds what the container
remembers of API keys' use (``key_uses``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from chalicelib import config
from chalicelib.config import Secrets, Settings
from chalicelib.identity.key_use import UseRecorder
from chalicelib.records.rules import Rulebook, utc_now
from chalicelib.storage import models


class Service:
    """What ``use`` gave, or what was read on first use."""

    settings: Settings | None = None
    secrets: Secrets | None = None
    clock: Callable[[], datetime] = staticmethod(utc_now)
    key_uses: UseRecorder = UseRecorder()


def use(settings: Settings, secrets: Secrets | None = None) -> None:
    """Serve with ``settings``, the tables bound to them, and ``secrets`` (None: read
    from the environment on first use)."""
    models.bind(settings)
    Service.settings, Service.secrets = settings, secrets


def settings() -> Settings:
    """The settings, read and bound once: on the first request or authorizer call."""
    if Service.settings is None:
        use(config.load_settings(os.environ))
    assert Service.settings is not None
    return Service.settings


def secrets() -> Secrets:
    """The secrets, read once, on first use (SSM parameters included)."""
    if Service.secrets is None:
        Service.secrets = config.load_secrets(os.environ, config.ssm_reader(settings().region))
    return Service.secrets


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Tell the time with ``clock`` (a test's), or with the system's (None)."""
    Service.clock = staticmethod(clock or utc_now)


def key_uses() -> UseRecorder:
    """What writes API keys' last use, remembering what this container wrote."""
    return Service.key_uses


def forget_key_uses() -> None:
    """Remember no key's use, as a new container does (the tests, before each)."""
    Service.key_uses = UseRecorder()


def rulebook() -> Rulebook:
    """What decides whether a rule grant is live: the providers (the secrets are
    read only for a user holding a rule grant) and the clock."""
    return Rulebook(lambda: secrets().providers, Service.clock)


def session_secret() -> bytes:
    """The key access tokens and login attempts are signed with."""
    return secrets().session_secret
