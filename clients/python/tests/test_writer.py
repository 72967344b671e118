"""The activity writer against the running service: batches of up to 500 in the
order entries were made, UUIDv7 ids, and what a refusal stops."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import Future
from typing import Any

import pytest
from conftest import STEPS, registered

from procedure_edge import Client, ProblemError
from procedure_edge.uuidv7 import uuidv7_generator


def test_entries_go_in_batches_of_up_to_500_in_the_order_they_were_made(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    sent: list[int] = []
    all_made = threading.Event()
    with admin.activity_writer(pid, flush_after=5.0) as writer:
        real_send = writer._send

        def send(entries: list[dict[str, Any]]) -> Any:
            all_made.wait(10)  # the first full batch waits until every entry was made
            sent.append(len(entries))
            return real_send(entries)

        writer._send = send
        futures = [writer.append("reading", {"n": n}) for n in range(1200)]
        all_made.set()
    assert all(future.done() and future.exception() is None for future in futures)
    assert sent == [500, 500, 200]

    logbook = list(admin.activities(pid))  # newest first
    assert [entry.payload["n"] for entry in reversed(logbook)] == list(range(1200))
    ids = [entry.event_id for entry in reversed(logbook)]
    assert all(event_id.version == 7 for event_id in ids)
    assert ids == sorted(ids, key=lambda event_id: event_id.bytes)


def test_a_partial_batch_goes_after_flush_after(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    with admin.activity_writer(pid, flush_after=0.05) as writer:
        future = writer.append("reading", {"n": 1}, sampled_at="2026-11-21T05:00:00.000Z")
        future.result(timeout=10)  # no flush(): the timer sent it
        assert writer.pending == 0
    (entry,) = list(admin.activities(pid))
    assert entry.sampled_at.isoformat().startswith("2026-11-21T05:00:00")


def test_a_refused_batch_fails_what_is_queued_behind_it_until_reset(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.conduct(pid, STEPS)
    writer = admin.activity_writer(pid)
    try:
        # A report for a step of the wrong kind is refused (422 StepKindMismatch): nothing is written.
        bad = writer.append("check", {"step_index": 0, "result": "ok"})
        with pytest.raises(ProblemError) as refused:
            writer.flush()
        assert refused.value.error_class == "StepKindMismatch"
        assert isinstance(bad.exception(), ProblemError)
        later: Future[None] = writer.ok(0)
        assert later.exception() is refused.value
        assert list(admin.activities(pid)) == []

        writer.reset()
        writer.in_flight(0)
        writer.ok(0).result(timeout=10)
    finally:
        writer.close()
    assert admin.get(pid).completed_count == 1


def test_a_refused_heartbeat_does_not_take_step_reports_down(admin: Client, as_role: dict[str, Client]) -> None:
    pid = str(registered(admin).procedure_id)
    admin.conduct(pid, STEPS)
    with as_role["gateway"].activity_writer(pid) as writer:
        writer.in_flight(0)
        refused = writer.heartbeat(99, progress=0.5)
        assert isinstance(refused.exception(timeout=10), ProblemError)
        writer.heartbeat(0, progress=0.5, message="ramping").result(timeout=10)
        writer.ok(0)
    kinds = [(entry.step_kind, entry.payload.get("result")) for entry in reversed(list(admin.activities(pid)))]
    assert kinds == [("setpoint", "in_flight"), ("heartbeat", None), ("setpoint", "ok")]
    assert admin.get(pid).completed_count == 1


def test_step_reports_need_a_manifest(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    with admin.activity_writer(pid) as writer, pytest.raises(LookupError, match="manifest"):
        writer.ok(0)


def test_a_repeated_entry_is_counted_not_recorded(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    entry = {
        "event_id": str(uuid7()),
        "step_kind": "reading",
        "payload": {"n": 1},
        "sampled_at": "2026-11-21T05:00:00.000Z",
    }
    assert admin.append(pid, [entry]).event_count == 1
    fresh = {**entry, "event_id": str(uuid7())}
    result = admin.append(pid, [entry, fresh])
    assert (result.event_count, result.duplicate_count) == (1, 1)
    # An id names one entry: reusing it for other content is refused, and nothing of that batch is written.
    with pytest.raises(ProblemError) as refused:
        admin.append(pid, [{**entry, "payload": {"n": 2}}, {**entry, "event_id": str(uuid7())}])
    assert refused.value.error_class == "ActivityEventIdReused"
    assert len(list(admin.activities(pid))) == 2


def uuid7() -> uuid.UUID:
    return uuid.UUID(uuidv7_generator()())
