"""The gateway's side of the activity logbook: entries get UUIDv7 event ids,
travel in batches of up to the API's 500, one batch at a time so the service
sees them in the order they were made, and are retried on network failures,
429 and 5xx. A retry is safe: the service deduplicates entries on their event
ids, so a batch that arrived before its answer was lost is counted as
duplicates, never recorded twice.

``ActivityWriter`` sends from a background thread (for ``Client``),
``AsyncActivityWriter`` from a task (for ``AsyncClient``); both share the
queueing rules below."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Generic, TypeVar

from .uuidv7 import uuidv7_generator

MAX_BATCH = 500
"""The API's limit on entries per request."""

F = TypeVar("F")
Entry = dict[str, Any]


def iso_now(now: float | None = None) -> str:
    """A time as the API writes it: ISO-8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def step_kinds(manifest: Any) -> list[str] | None:
    """The kinds of a manifest's pinned steps, closing steps last (step reports carry them); None without one."""
    if manifest is None:
        return None
    steps = [*manifest.resolved_steps, *manifest.resolved_closing_steps]
    return [getattr(step, "root", step).kind for step in steps]


@dataclass
class _Pending(Generic[F]):
    entry: Entry
    # Heartbeats travel alone, so a refusal of one never takes step reports down with it.
    alone: bool
    future: F


@dataclass
class _Queue(Generic[F]):
    """What both writers share: the order entries go in, when a batch is due, and what a refusal stops."""

    max_batch: int
    flush_after: float
    clock: Callable[[], float]
    entries: deque[_Pending[F]] = field(default_factory=deque)
    due_at: float | None = None
    refusal: BaseException | None = None

    def add(self, pending: _Pending[F], now: bool) -> None:
        self.entries.append(pending)
        if now or len(self.entries) >= self.max_batch:
            self.due_at = 0.0
        elif self.due_at is None:
            self.due_at = self.clock() + self.flush_after

    def wait(self) -> float | None:
        """Seconds until a batch is due (0: now); None when nothing waits."""
        if not self.entries or self.due_at is None:
            return None
        return max(0.0, self.due_at - self.clock())

    def take(self) -> list[_Pending[F]]:
        """The next batch; what stays queued goes in the next batch straight away."""
        first = self.entries.popleft()
        batch = [first]
        if not first.alone:
            while self.entries and len(batch) < self.max_batch and not self.entries[0].alone:
                batch.append(self.entries.popleft())
        self.due_at = 0.0 if self.entries else None
        return batch

    def refused(self, batch: list[_Pending[F]], error: BaseException) -> list[_Pending[F]]:
        """A refused batch: it and, unless it was a lone heartbeat, everything queued behind it fail."""
        if len(batch) == 1 and batch[0].alone:
            return batch
        self.refusal = error
        behind = list(self.entries)
        self.entries.clear()
        self.due_at = None
        return batch + behind


class _Entries:
    """Builds entries: event ids, sample times, and the payload of a step report."""

    def __init__(self, kinds: Sequence[str] | None, clock: Callable[[], float]) -> None:
        self.kinds = None if kinds is None else list(kinds)
        self.clock = clock
        self.next_id = uuidv7_generator(lambda: clock() * 1000)
        # Formatting a time costs more than the rest of an entry: one string per millisecond.
        self._stamped: tuple[int, str] = (-1, "")

    def now(self) -> str:
        moment = self.clock()
        ms = int(moment * 1000)
        if ms != self._stamped[0]:
            self._stamped = (ms, iso_now(moment))
        return self._stamped[1]

    def entry(self, step_kind: str, payload: Mapping[str, Any], sampled_at: str | None) -> Entry:
        return {
            "event_id": self.next_id(),
            "step_kind": step_kind,
            "payload": dict(payload),
            "sampled_at": sampled_at or self.now(),
        }

    def step(self, index: int, result: str, extra: Mapping[str, Any]) -> tuple[str, Entry]:
        if self.kinds is None:
            raise LookupError(
                "step reports need a conducted procedure's manifest; use append() for a free-form logbook"
            )
        if not 0 <= index < len(self.kinds):
            raise LookupError(f"no pinned step {index}")
        return self.kinds[index], {**extra, "step_index": index, "result": result}

    @staticmethod
    def heartbeat(step_index: int | None, progress: float | None, message: str | None) -> Entry:
        payload: Entry = {}
        if step_index is not None:
            payload["step_index"] = step_index
        if progress is not None:
            payload["progress"] = progress
        if message is not None:
            payload["message"] = message
        return payload


class ActivityWriter:
    """Queues logbook entries and sends them from a background thread.

    ``append`` and the step reports answer a ``concurrent.futures.Future`` that
    is done when the entry is recorded (or refused); waiting on it is optional.
    ``in_flight`` waits: it is recorded before the effect takes place. A refused
    batch (a 4xx other than 429, or retries exhausted) fails itself and every
    entry queued behind it, and the writer refuses new entries until
    ``reset()``: a later report is never recorded without an earlier one.
    Used as a context manager it flushes on exit and stops its thread.
    """

    def __init__(
        self,
        send: Callable[[list[Entry]], Any],
        kinds: Sequence[str] | None = None,
        *,
        max_batch: int = MAX_BATCH,
        flush_after: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self._entries = _Entries(kinds, clock)
        self._queue: _Queue[Future[None]] = _Queue(min(MAX_BATCH, max(1, max_batch)), flush_after, time.monotonic)
        self._changed = threading.Condition()
        self._sending = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="procedure-edge-writer", daemon=True)
        self._thread.start()

    # ---- entries ----

    def append(self, step_kind: str, payload: Mapping[str, Any], sampled_at: str | None = None) -> Future[None]:
        """Queues any entry (a free-form logbook's, or a step report made by hand)."""
        return self._enqueue(self._entries.entry(step_kind, payload, sampled_at), alone=False, now=False)

    def in_flight(self, step_index: int, **extra: Any) -> None:
        """Step ``step_index`` is about to take effect: returns once that is on record (raises on a refusal)."""
        kind, payload = self._entries.step(step_index, "in_flight", extra)
        self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=True).result()

    def ok(self, step_index: int, **extra: Any) -> Future[None]:
        """Step ``step_index`` succeeded; extra fields (measurements) are kept in the payload."""
        kind, payload = self._entries.step(step_index, "ok", extra)
        return self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=False)

    def failed(self, step_index: int, error_class: str, message: str, **extra: Any) -> Future[None]:
        """Step ``step_index`` failed; the service holds or aborts the procedure as its conduct asked."""
        kind, payload = self._entries.step(
            step_index, "failed", {**extra, "error_class": error_class, "message": message}
        )
        return self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=True)

    def heartbeat(
        self, step_index: int | None = None, progress: float | None = None, message: str | None = None
    ) -> Future[None]:
        """A long step (or acquisition) is alive: activity for the stall watcher; it never changes step progress."""
        payload = self._entries.heartbeat(step_index, progress, message)
        return self._enqueue(self._entries.entry("heartbeat", payload, None), alone=True, now=True)

    # ---- control ----

    def flush(self, timeout: float | None = None) -> None:
        """Sends everything queued; raises the refusal when a batch was refused."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            if self._queue.entries:
                self._queue.due_at = 0.0
                self._changed.notify_all()
            while self._queue.entries or self._sending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{self.pending} entries not recorded within {timeout} s")
                self._changed.wait(left)
            if self._queue.refusal is not None:
                raise self._queue.refusal

    def reset(self) -> None:
        """Accepts entries again after a refusal (the refused ones are not resent)."""
        with self._changed:
            self._queue.refusal = None

    @property
    def pending(self) -> int:
        """Entries made but not yet recorded."""
        with self._changed:
            return len(self._queue.entries) + (1 if self._sending else 0)

    def close(self) -> None:
        """Flushes and stops the thread; raises the refusal, if any, after stopping."""
        try:
            self.flush()
        finally:
            with self._changed:
                self._closed = True
                self._changed.notify_all()
            self._thread.join()

    def __enter__(self) -> ActivityWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is None:
            self.close()
            return
        # Leaving on an error: still send what was made, but let the original error through.
        with contextlib.suppress(Exception):
            self.close()

    # ---- the thread ----

    def _enqueue(self, entry: Entry, *, alone: bool, now: bool) -> Future[None]:
        future: Future[None] = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the writer is closed")
            if self._queue.refusal is not None:
                future.set_exception(self._queue.refusal)
                return future
            self._queue.add(_Pending(entry, alone, future), now)
            self._changed.notify_all()
        return future

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    wait = self._queue.wait()
                    if wait == 0:
                        break
                    if self._closed and not self._queue.entries:
                        return
                    self._changed.wait(wait)
                batch = self._queue.take()
                self._sending = True
            failed: list[_Pending[Future[None]]] = []
            error: BaseException | None = None
            try:
                self._send([p.entry for p in batch])
            except Exception as refusal:
                error = refusal
            with self._changed:
                if error is not None:
                    failed = self._queue.refused(batch, error)
                self._sending = False
                self._changed.notify_all()
            for p in failed if error is not None else batch:
                if error is None:
                    p.future.set_result(None)
                else:
                    p.future.set_exception(error)


class AsyncActivityWriter:
    """The same writer for asyncio: entries answer ``asyncio.Future``s and a task sends them.

    Use it as ``async with``; ``await writer.in_flight(i)`` before an effect.
    """

    def __init__(
        self,
        send: Callable[[list[Entry]], Awaitable[Any]],
        kinds: Sequence[str] | None = None,
        *,
        max_batch: int = MAX_BATCH,
        flush_after: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self._entries = _Entries(kinds, clock)
        self._queue: _Queue[asyncio.Future[None]] = _Queue(
            min(MAX_BATCH, max(1, max_batch)), flush_after, time.monotonic
        )
        self._changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def append(self, step_kind: str, payload: Mapping[str, Any], sampled_at: str | None = None) -> asyncio.Future[None]:
        return self._enqueue(self._entries.entry(step_kind, payload, sampled_at), alone=False, now=False)

    async def in_flight(self, step_index: int, **extra: Any) -> None:
        kind, payload = self._entries.step(step_index, "in_flight", extra)
        await self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=True)

    def ok(self, step_index: int, **extra: Any) -> asyncio.Future[None]:
        kind, payload = self._entries.step(step_index, "ok", extra)
        return self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=False)

    def failed(self, step_index: int, error_class: str, message: str, **extra: Any) -> asyncio.Future[None]:
        kind, payload = self._entries.step(
            step_index, "failed", {**extra, "error_class": error_class, "message": message}
        )
        return self._enqueue(self._entries.entry(kind, payload, None), alone=False, now=True)

    def heartbeat(
        self, step_index: int | None = None, progress: float | None = None, message: str | None = None
    ) -> asyncio.Future[None]:
        payload = self._entries.heartbeat(step_index, progress, message)
        return self._enqueue(self._entries.entry("heartbeat", payload, None), alone=True, now=True)

    async def flush(self) -> None:
        if self._queue.entries:
            self._queue.due_at = 0.0
            self._changed.set()
        while self._queue.entries or not self._idle.is_set():
            self._ensure_task()
            await self._idle.wait()
            if self._queue.entries:
                await asyncio.sleep(0)
        if self._queue.refusal is not None:
            raise self._queue.refusal

    def reset(self) -> None:
        self._queue.refusal = None

    @property
    def pending(self) -> int:
        return len(self._queue.entries) + (0 if self._idle.is_set() else 1)

    async def aclose(self) -> None:
        try:
            await self.flush()
        finally:
            self._closed = True
            self._changed.set()
            if self._task is not None:
                await self._task

    async def __aenter__(self) -> AsyncActivityWriter:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if error is None:
            await self.aclose()
            return
        with contextlib.suppress(Exception):
            await self.aclose()

    def _enqueue(self, entry: Entry, *, alone: bool, now: bool) -> asyncio.Future[None]:
        if self._closed:
            raise RuntimeError("the writer is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # An unawaited report that is refused must not log "exception was never retrieved".
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        if self._queue.refusal is not None:
            future.set_exception(self._queue.refusal)
            return future
        self._queue.add(_Pending(entry, alone, future), now)
        self._changed.set()
        self._ensure_task()
        return future

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            wait = self._queue.wait()
            if wait is None:
                if self._closed:
                    return
                self._changed.clear()
                await self._changed.wait()
                continue
            if wait > 0:
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            batch = self._queue.take()
            self._idle.clear()
            try:
                await self._send([p.entry for p in batch])
            except Exception as error:
                for p in self._queue.refused(batch, error):
                    if not p.future.done():
                        p.future.set_exception(error)
            else:
                for p in batch:
                    if not p.future.done():
                        p.future.set_result(None)
            finally:
                self._idle.set()
