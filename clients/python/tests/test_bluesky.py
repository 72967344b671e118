"""The Bluesky recorder with a real RunEngine and ophyd's simulated devices:
a scan, a failing plan, a pause and resume, a suspension, a long acquisition."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.suspenders import SuspendBoolHigh
from bluesky.utils import RunEngineInterrupted
from conftest import unique
from ophyd.sim import Signal, det, motor

from procedure_edge import Client
from procedure_edge.bluesky import ProcedureRecorder

Plan = Generator[Any, Any, Any]


@pytest.fixture
def RE() -> Iterator[RunEngine]:
    # No SIGINT handler: the RunEngine runs inside pytest, on its own event loop.
    engine = RunEngine({}, call_returns_result=True, context_managers=[])
    yield engine
    if engine.state != "idle":
        engine.halt()


def recorder_for(admin: Client, **options: Any) -> ProcedureRecorder:
    return ProcedureRecorder(admin, "grid scan", "bluesky-scan", [unique("diffractometer")], **options)


def logbook(admin: Client, pid: str) -> list[Any]:
    return list(reversed(list(admin.activities(pid))))


def test_a_scan_is_a_completed_procedure_with_its_readings(admin: Client, RE: RunEngine) -> None:
    recorder = recorder_for(admin)
    recorder.subscribe(RE)
    result = RE(bp.scan([det], motor, -1, 1, 5))
    assert result.exit_status == "success"

    assert recorder.procedure_id is not None
    state = admin.get(recorder.procedure_id)
    assert (state.name, state.kind, state.status) == ("grid scan", "bluesky-scan", "Completed")
    entries = logbook(admin, recorder.procedure_id)
    assert [e.step_kind for e in entries] == ["run-start", *["primary"] * 5, "run-stop"]
    assert entries[0].payload["plan_name"] == "scan"
    assert entries[0].payload["uid"] == result.run_start_uids[0]
    readings = [e.payload["data"] for e in entries[1:-1]]
    assert [r["motor"] for r in readings] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert all(isinstance(r["det"], (int, float)) for r in readings)
    assert entries[-1].payload == {
        "exit_status": "success",
        "reason": "",
        "num_events": {"interruptions": 0, "primary": 5},
    }


def test_a_failing_plan_aborts_the_procedure_with_its_reason(admin: Client, RE: RunEngine) -> None:
    recorder = recorder_for(admin)
    recorder.subscribe(RE)

    @bpp.run_decorator()
    def failing() -> Plan:
        yield from bps.trigger_and_read([det, motor])
        raise RuntimeError("the detector overheated")

    with pytest.raises(RuntimeError, match="overheated"):
        RE(failing())
    assert recorder.procedure_id is not None
    state = admin.get(recorder.procedure_id)
    assert state.status == "Aborted"
    assert state.last_status_reason is not None
    assert state.last_status_reason.startswith("run fail")
    assert "overheated" in state.last_status_reason


def test_a_pause_holds_the_procedure_until_the_run_resumes(admin: Client, RE: RunEngine) -> None:
    recorder = recorder_for(admin)
    recorder.subscribe(RE)

    @bpp.run_decorator()
    def with_pause() -> Plan:
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det, motor])
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.trigger_and_read([det, motor])

    with pytest.raises(RunEngineInterrupted):
        RE(with_pause())
    assert recorder.procedure_id is not None
    pid = recorder.procedure_id
    held = admin.get(pid)
    assert held.status == "Held"
    assert [claim.cause for claim in held.hold_claims] == ["driver-stand-down"]
    assert held.last_status_reason == "RunEngine paused"
    # The reading before the pause was on record before the hold.
    assert [e.step_kind for e in logbook(admin, pid)] == ["run-start", "primary"]

    assert RE.resume().exit_status == "success"
    assert admin.get(pid).status == "Completed"
    types = [event.type for event in admin.events(pid)]
    assert types[-3:] == ["ProcedureHeld", "ProcedureResumed", "ProcedureCompleted"]
    assert [e.step_kind for e in logbook(admin, pid)] == ["run-start", "primary", "primary", "run-stop"]


def test_a_run_aborted_while_paused_aborts_the_held_procedure(admin: Client, RE: RunEngine) -> None:
    recorder = recorder_for(admin)
    recorder.subscribe(RE)

    @bpp.run_decorator()
    def with_pause() -> Plan:
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det])
        yield from bps.pause()
        yield from bps.trigger_and_read([det])

    with pytest.raises(RunEngineInterrupted):
        RE(with_pause())
    assert recorder.procedure_id is not None
    assert admin.get(recorder.procedure_id).status == "Held"
    assert RE.abort("sample lost").exit_status == "abort"
    state = admin.get(recorder.procedure_id)
    assert state.status == "Aborted"
    assert state.last_status_reason is not None
    assert state.last_status_reason.startswith("run abort")
    # The stand-down ended with the run: resumed, the stop entry written, then aborted.
    assert [event.type for event in admin.events(recorder.procedure_id)][-3:] == [
        "ProcedureHeld",
        "ProcedureResumed",
        "ProcedureAborted",
    ]


def test_a_suspension_holds_the_procedure_while_it_lasts(admin: Client, RE: RunEngine) -> None:
    beam_dumped = Signal(name="beam_dumped", value=0)

    def beam_returns() -> Plan:
        beam_dumped.put(0)
        yield from bps.null()

    RE.install_suspender(SuspendBoolHigh(beam_dumped, pre_plan=beam_returns, tripped_message="beam dump"))
    recorder = recorder_for(admin)
    recorder.subscribe(RE)
    holds: list[str] = []
    real_hold = recorder._hold

    def hold(reason: str) -> None:
        real_hold(reason)
        assert recorder.procedure_id is not None
        holds.append(admin.get(recorder.procedure_id).status)

    recorder._hold = hold  # type: ignore[method-assign]

    @bpp.run_decorator()
    def with_beam_dump() -> Plan:
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det])
        beam_dumped.put(1)
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det])

    assert RE(with_beam_dump()).exit_status == "success"
    assert holds == ["Held"]
    assert recorder.procedure_id is not None
    pid = recorder.procedure_id
    assert admin.get(pid).status == "Completed"
    held = next(event for event in admin.events(pid) if event.type == "ProcedureHeld")
    assert held.payload["cause"] == "driver-stand-down"
    assert "beam dump" in held.payload["reason"]


def test_heartbeats_keep_a_long_acquisition_alive(admin: Client, RE: RunEngine) -> None:
    recorder = recorder_for(admin, heartbeat_seconds=0.1)
    recorder.subscribe(RE)

    @bpp.run_decorator()
    def long_exposure() -> Plan:
        yield from bps.sleep(0.6)
        yield from bps.trigger_and_read([det])

    RE(long_exposure())
    assert recorder.procedure_id is not None
    kinds = [e.step_kind for e in logbook(admin, recorder.procedure_id)]
    assert kinds[0] == "run-start"
    assert kinds.count("heartbeat") >= 2
    assert kinds[-2:] == ["primary", "run-stop"]


def test_a_recorder_attaches_to_a_procedure_it_is_given(admin: Client, RE: RunEngine) -> None:
    given = admin.register(unique("calibration"), "bluesky-scan", [unique("asset")])
    recorder = ProcedureRecorder(admin, procedure_id=str(given.procedure_id))
    RE.subscribe(recorder)
    RE(bp.count([det], num=3))
    assert recorder.procedure_id == str(given.procedure_id)
    assert admin.get(recorder.procedure_id).status == "Completed"
    assert len(list(admin.activities(recorder.procedure_id))) == 5
