"""Following a procedure live: its Server-Sent Events stream, with the bearer
token in a header, reopened from the last message's id whenever the
connection drops. The service replays what followed that id from the
procedure's own record, so a reconnect neither repeats nor misses a message.
The stream ends by itself once the procedure has ended."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ._core import TERMINAL, Core, path
from .errors import ProblemError

# No message for this long (the service sends a comment at least every 30 s): the connection is gone.
READ_TIMEOUT = 75.0


@dataclass(frozen=True)
class StreamMessage:
    """One message: ``state``, an event type (``ProcedureHeld``, ...) or ``activity``."""

    id: str
    event: str
    data: Any


def _message(sse: ServerSentEvent) -> StreamMessage | None:
    if not sse.data:
        return None
    return StreamMessage(id=sse.id, event=sse.event, data=json.loads(sse.data))


def _ended_early(message: StreamMessage) -> bool:
    """The service's final ``error`` message (a reader too slow, a token revoked): it ends the stream and
    carries no id, so the stream is reopened from the last message; a refusal then raises ProblemError."""
    return message.event == "error"


def _terminal(message: StreamMessage) -> bool:
    return message.event == "state" and isinstance(message.data, dict) and message.data.get("status") in TERMINAL


class _Session:
    """What both followers share: the request, the last id, when to retry and when the stream is over."""

    def __init__(self, core: Core, procedure_id: str, after: str | None) -> None:
        self.core = core
        self.route = path("/v1/procedures/{id}/stream", id=str(procedure_id))
        self.last_id = after
        self.failures = 0
        self.ended = False

    def headers(self) -> dict[str, str]:
        headers = {"accept": "text/event-stream", "cache-control": "no-store"}
        if self.last_id is not None:
            headers["last-event-id"] = self.last_id
        return headers

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.core.timeout, read=READ_TIMEOUT)

    def retry_wait(self) -> float:
        self.failures += 1
        return self.core.policy.backoff(min(self.failures, 16))

    def refused(self, response: httpx.Response) -> bool:
        """True for an answer worth retrying (429, 5xx); a refusal raises its problem."""
        if response.status_code == 429 or response.status_code >= 500:
            return True
        raise ProblemError.from_response(response)

    def seen(self, message: StreamMessage) -> None:
        self.last_id = message.id or self.last_id
        self.failures = 0
        if message.event == "state":
            self.ended = _terminal(message)


def follow(
    http: httpx.Client, core: Core, procedure_id: str, after: str | None, sleep: Callable[[float], None]
) -> Iterator[StreamMessage]:
    session = _Session(core, procedure_id, after)
    while True:
        try:
            with http.stream("GET", session.route, headers=session.headers(), timeout=session.timeout()) as response:
                if not response.is_success:
                    response.read()
                    session.refused(response)
                    sleep(session.retry_wait())
                    continue
                for sse in EventSource(response).iter_sse():
                    message = _message(sse)
                    if message is None:
                        continue
                    if _ended_early(message):
                        break
                    session.seen(message)
                    yield message
        except httpx.TransportError:
            pass
        if session.ended:
            return
        sleep(session.retry_wait())


async def afollow(
    http: httpx.AsyncClient, core: Core, procedure_id: str, after: str | None, sleep: Callable[[float], Any]
) -> AsyncIterator[StreamMessage]:
    session = _Session(core, procedure_id, after)
    while True:
        try:
            async with http.stream(
                "GET", session.route, headers=session.headers(), timeout=session.timeout()
            ) as response:
                if not response.is_success:
                    await response.aread()
                    session.refused(response)
                    await sleep(session.retry_wait())
                    continue
                async for sse in EventSource(response).aiter_sse():
                    message = _message(sse)
                    if message is None:
                        continue
                    if _ended_early(message):
                        break
                    session.seen(message)
                    yield message
        except httpx.TransportError:
            pass
        if session.ended:
            return
        await sleep(session.retry_wait())
