"""The Python reference gateway (examples/python-gateway) against the running
service: a clean run, a failed check that holds and is resumed by an operator
with conduct-from and the go-ahead, and heartbeats during a long step."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from conftest import eventually, unique

from procedure_edge import Client, models

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "python-gateway"))

from gateway import run_gateway
from instrument import NO_DELAYS, Delays, Fault, SimulatedInstrument

STEPS: list[dict[str, Any]] = [
    {"kind": "setpoint", "address": "zone.a", "value": 120, "verify": True},
    {"kind": "action", "name": "open_shutter", "params": {}},
    {"kind": "check", "address": "zone.a", "criterion": {"kind": "within_tolerance", "expected": 120, "tolerance": 1}},
    {"kind": "capture", "address": "detector.main", "capture_name": "frame"},
]


def gateway_client(admin: Client) -> Client:
    # The gateway role alone: the state's replay_boundary says where the operator resumed.
    token = admin.create_principal(unique("gateway"), ["gateway"]).token
    return Client(admin.base_url, token)


def conducted(admin: Client, steps: list[dict[str, Any]] = STEPS) -> str:
    pid = str(admin.register(unique("bake"), "bake", [unique("oven")]).procedure_id)
    assert admin.conduct(pid, steps, on_failure="hold").succeeded
    return pid


def reports(admin: Client, pid: str) -> list[tuple[str, Any, Any]]:
    entries = reversed(list(admin.activities(pid)))
    return [(e.step_kind, e.payload.get("step_index"), e.payload.get("result")) for e in entries]


def test_a_clean_run_reports_every_step_in_order(admin: Client) -> None:
    pid = conducted(admin)
    lines: list[str] = []
    with gateway_client(admin) as client:
        final = run_gateway(client, pid, SimulatedInstrument(delays=NO_DELAYS), log=lines.append, poll_seconds=0.05)
    assert final.status == "Completed"
    assert reports(admin, pid) == [
        ("setpoint", 0, "in_flight"),
        ("setpoint", 0, "ok"),
        ("action", 1, "in_flight"),
        ("action", 1, "ok"),
        ("check", 2, "ok"),
        ("capture", 3, "ok"),
    ]
    assert lines[0] == "running 4 steps"


def test_a_failed_check_waits_for_the_operator_then_replays_after_the_go_ahead(admin: Client) -> None:
    # The setpoint does not read back, so the drifting sensor shows first in the check.
    pid = conducted(admin, [{**STEPS[0], "verify": False}, *STEPS[1:]])
    instrument = SimulatedInstrument(delays=NO_DELAYS, faults=[Fault("offset", "zone.a", -3.0)])
    outcome: list[models.Procedure] = []
    lines: list[str] = []
    with gateway_client(admin) as client:
        gateway = threading.Thread(
            target=lambda: outcome.append(run_gateway(client, pid, instrument, log=lines.append, poll_seconds=0.05))
        )
        gateway.start()

        def held() -> None:
            state = admin.get(pid)
            assert state.status == "Held"
            assert [claim.cause for claim in state.hold_claims] == ["step-fault"]

        eventually(held)
        # The operator replays from the action, not the suggested failed check (#2): the gateway follows the
        # state's boundary and waits for the go-ahead before opening the shutter again.
        assert admin.resume_point(pid).suggested_boundary == 2
        plan = admin.conduct_from(pid, 1)
        assert [(item.step_index, item.requires_operator) for item in plan.replay] == [
            (1, True),
            (2, False),
            (3, False),
        ]
        eventually(lambda: _assert(any("waiting for the operator's go-ahead" in line for line in lines)))
        assert ("action", 1, "in_flight") not in reports(admin, pid)[4:]
        admin.go_ahead(pid, 1)
        gateway.join(timeout=30)
    assert outcome and outcome[0].status == "Completed"
    assert reports(admin, pid)[-5:] == [
        ("check", 2, "failed"),
        ("action", 1, "in_flight"),
        ("action", 1, "ok"),
        ("check", 2, "ok"),
        ("capture", 3, "ok"),
    ]
    assert any(line.startswith("running from step 1") for line in lines)


def test_a_long_step_sends_heartbeats(admin: Client) -> None:
    pid = conducted(admin, STEPS[:2])
    instrument = SimulatedInstrument(delays=Delays(action_seconds=0.8, motor_speed=1e9, ramp_rate=1e9))
    with gateway_client(admin) as client:
        final = run_gateway(client, pid, instrument, heartbeat_seconds=0.2)
    assert final.status == "Completed"
    kinds = reports(admin, pid)
    during = kinds[kinds.index(("action", 1, "in_flight")) + 1 : kinds.index(("action", 1, "ok"))]
    assert len(during) >= 2
    assert all(kind == "heartbeat" and index == 1 for kind, index, _ in during)


def _assert(condition: bool) -> None:
    assert condition
