"""The transport-neutral core both clients share: how an operation becomes a
request, which answers may be retried and after how long, and how an answer
becomes a result or a ProblemError. The sync and async clients only do the I/O."""

from __future__ import annotations

import email.utils
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from .errors import NetworkError, ProblemError

T = TypeVar("T")
Item = TypeVar("Item")

RetryMode = Literal["safe", "unprocessed"]
"""How far a request may be repeated:

- ``safe``: reads, and appends (entries are deduplicated on their ids): on a
  network failure, 429 and 5xx;
- ``unprocessed``: commands, which are not idempotent: only on 429, which the
  service answers before acting.
"""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``max_attempts`` counts the first one."""

    max_attempts: int = 8
    base_delay: float = 0.25
    max_delay: float = 30.0
    random: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, failures: int) -> float:
        """The wait after the ``failures``-th failure (1-based): half fixed, half random, so retries spread."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return ceiling / 2 + ceiling / 2 * self.random()


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """The wait a ``Retry-After`` header asks for (delay-seconds or an HTTP date); None when absent or unreadable."""
    if header is None or not header.strip():
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def identity(body: Any) -> Any:
    return body


@dataclass(frozen=True)
class Call(Generic[T]):
    """One operation of the document: what to send, how far it may be retried, how to read the answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    query: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: RetryMode | None = None

    @property
    def mode(self) -> RetryMode:
        return self.retry or ("safe" if self.method == "GET" else "unprocessed")

    def with_query(self, **changes: Any) -> Call[T]:
        query = {**(self.query or {}), **changes}
        return replace(self, query=query)


def path(template: str, **params: str) -> str:
    """Fills ``{name}`` segments, each percent-encoded."""
    return template.format(**{name: quote(str(value), safe="") for name, value in params.items()})


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class Core:
    """Request building and answer reading, shared by Client and AsyncClient."""

    def __init__(self, base_url: str | None, token: str | None, retry: RetryPolicy | None, timeout: float) -> None:
        base_url = base_url or os.environ.get("PROCEDURE_EDGE_URL")
        token = token or os.environ.get("PROCEDURE_EDGE_TOKEN")
        if not base_url:
            raise ValueError("no base URL: pass base_url or set PROCEDURE_EDGE_URL")
        if not token:
            raise ValueError("no token: pass token or set PROCEDURE_EDGE_TOKEN")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.policy = retry or RetryPolicy()
        self.timeout = timeout

    def client_options(self) -> dict[str, Any]:
        """What an httpx client for this service is built with."""
        return {
            "base_url": self.base_url,
            "headers": {"authorization": f"Bearer {self.token}", "accept": "application/json"},
            "timeout": self.timeout,
        }

    def request_options(self, call: Call[Any]) -> dict[str, Any]:
        options: dict[str, Any] = {"headers": dict(call.headers)}
        if call.query:
            options["params"] = {key: _query_value(value) for key, value in call.query.items() if value is not None}
        if call.json is not None:
            options["json"] = call.json
        return options

    def wait_after_error(self, call: Call[Any], attempt: int, error: Exception) -> float:
        """The wait before another attempt after a network failure; raises NetworkError when none is allowed."""
        if call.mode == "safe" and attempt < self.policy.max_attempts:
            return self.policy.backoff(attempt)
        raise NetworkError(f"{call.method} {call.path}: no answer after {attempt} attempt(s): {error!r}") from error

    def wait_after_answer(self, call: Call[Any], attempt: int, response: httpx.Response, now: float) -> float | None:
        """The wait before another attempt after this (unsuccessful) answer, or None when it is final."""
        status = response.status_code
        retryable = status == 429 or (call.mode == "safe" and 500 <= status <= 599)
        if not retryable or attempt >= self.policy.max_attempts:
            return None
        asked = retry_after_seconds(response.headers.get("retry-after"), now)
        return asked if asked is not None else self.policy.backoff(attempt)

    @staticmethod
    def result(call: Call[T], response: httpx.Response) -> T:
        """The call's result from a read answer; a ProblemError for a refusal."""
        if not response.is_success:
            raise ProblemError.from_response(response)
        body = response.json() if response.content else None
        return call.parse(body)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Paged(Generic[Item]):
    """A listing read page by page: ``first`` answers ``{items, next_cursor}``;
    ``by`` names how the next page is asked for (the cursor, or the last
    item's version for the event log)."""

    first: Call[dict[str, Any]]
    item: Callable[[Any], Item]
    by: Literal["cursor", "version"] = "cursor"

    def page(self, body: dict[str, Any], call: Call[dict[str, Any]]) -> tuple[list[Item], Call[dict[str, Any]] | None]:
        raw = body.get("items") or []
        items = [self.item(entry) for entry in raw]
        cursor = body.get("next_cursor")
        if cursor is None or not raw:
            return items, None
        if self.by == "version":
            return items, call.with_query(after=raw[-1]["version"])
        return items, call.with_query(cursor=cursor)


TERMINAL = frozenset({"Completed", "Aborted", "Truncated"})
