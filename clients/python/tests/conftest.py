"""The suite runs against the real service: the Worker served locally (as
`npm start` serves it) on a free port with throw-away state, started once per
session and stopped at the end. PROCEDURE_EDGE_TEST_URL and
PROCEDURE_EDGE_TEST_TOKEN (an admin token) point it at a service already
running instead."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from procedure_edge import Client, models

T = TypeVar("T")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from local_service import LocalService, local_service  # noqa: E402


@pytest.fixture(scope="session")
def service() -> Iterator[LocalService]:
    url = os.environ.get("PROCEDURE_EDGE_TEST_URL")
    token = os.environ.get("PROCEDURE_EDGE_TEST_TOKEN")
    if url and token:
        yield LocalService(base_url=url, token=token)
        return
    with local_service() as started:
        yield started


@pytest.fixture(scope="session")
def admin(service: LocalService) -> Iterator[Client]:
    """The bootstrap admin: every grant, and no rate limit."""
    with Client(service.base_url, service.token) as client:
        yield client


@pytest.fixture(scope="session")
def tokens(admin: Client) -> dict[str, str]:
    """A token per role, made once for the session."""
    return {role: admin.create_principal(f"pytest {role}", [role]).token for role in ("operator", "gateway", "reader")}


@pytest.fixture
def as_role(service: LocalService, tokens: dict[str, str]) -> Iterator[dict[str, Client]]:
    clients = {role: Client(service.base_url, token) for role, token in tokens.items()}
    yield clients
    for client in clients.values():
        client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def registered(client: Client, kind: str = "pytest") -> models.Procedure:
    return client.register(unique("procedure"), kind, [unique("asset")])


STEPS = [
    {"kind": "setpoint", "address": "zone.a", "value": 120, "verify": True},
    {"kind": "action", "name": "open_shutter", "params": {}},
    {"kind": "check", "address": "zone.a", "criterion": {"kind": "within_tolerance", "expected": 120, "tolerance": 1}},
]


def eventually(check: Callable[[], T], timeout: float = 20.0) -> T:
    """``check()`` once it stops raising AssertionError: for what the service makes
    visible a moment after the command (the list's projection, a webhook)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
