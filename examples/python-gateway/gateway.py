"""The Python reference gateway: runs a conducted procedure's pinned steps on an
instrument and reports each through the client's activity writer.

- A step with an effect (setpoint, action, compute) is reported ``in_flight``,
  and that report is recorded, before the effect: an interruption then names
  the step that may have half-happened.
- A long effect sends heartbeats, so the stall watcher sees it alive.
- Steps are reported in order: a step's report goes only after every step
  before it has its ``ok`` on record or lies before the replay boundary.
- A failed step is reported and the gateway waits: with ``on_failure: "hold"``
  the procedure is Held by the step fault until an operator resumes it
  (``conduct-from``); the gateway then continues from that boundary, the
  replay plan, and before a replayed action or compute it waits for the
  operator's go-ahead (the step leaves the state's ``replay_awaiting_operator``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instrument import Clock, Instrument, InstrumentError, SystemClock

from procedure_edge import ActivityWriter, Client, ProblemError, models

TERMINAL = {"Completed", "Aborted", "Truncated"}
Log = Callable[[str], None]


class Failure:
    """A step the instrument ran but whose result is wrong (not reached, out of tolerance)."""

    def __init__(self, error_class: str, message: str, **extra: Any) -> None:
        self.error_class = error_class
        self.message = message
        self.extra = extra


def run_gateway(
    client: Client,
    procedure_id: str,
    instrument: Instrument,
    *,
    clock: Clock | None = None,
    log: Log = lambda line: None,
    poll_seconds: float = 1.0,
    heartbeat_seconds: float = 10.0,
    verify_tolerance: float = 1e-6,
) -> models.Procedure:
    """Runs the procedure until it ends (Completed, Aborted or Truncated) and answers its final state."""
    clock = clock or SystemClock()
    manifest = client.manifest(procedure_id)
    steps = [step.root for step in [*manifest.resolved_steps, *manifest.resolved_closing_steps]]

    def poll(until: Callable[[models.Procedure], bool]) -> models.Procedure:
        while True:
            clock.sleep(poll_seconds)
            state = client.get(procedure_id)
            if until(state):
                return state

    def suggested() -> int:
        """Where the record says to go on: the interrupted step, else the first without an ok."""
        return client.resume_point(procedure_id).suggested_boundary

    def resumed_from(current: models.Procedure) -> int:
        """After an operator's resume: the boundary of the replay the state shows, else the suggestion."""
        return current.replay_boundary if current.replay_boundary is not None else suggested()

    def may_run(index: int) -> bool:
        """Before a replayed action or compute: wait until the operator's go-ahead takes it off the awaiting list."""
        current = client.get(procedure_id)
        if index in current.replay_awaiting_operator:
            writer.flush()
            log(f"step {index} is a replayed {steps[index].kind}: waiting for the operator's go-ahead")
            current = poll(lambda s: s.status != "Running" or index not in s.replay_awaiting_operator)
        return current.status == "Running"

    with client.activity_writer(procedure_id, manifest=manifest) as writer:
        runner = StepRunner(instrument, writer, clock, log, heartbeat_seconds, verify_tolerance)
        state = client.get(procedure_id)
        start_at = suggested()
        while True:
            if state.status in TERMINAL:
                reason = f": {state.last_status_reason}" if state.last_status_reason else ""
                log(f"procedure {state.status}{reason}")
                return state
            if state.status != "Running":
                reason = f" ({state.last_status_reason})" if state.last_status_reason else ""
                log(f"procedure {state.status}{reason}; waiting for an operator")
                state = poll(lambda s: s.status == "Running" or s.status in TERMINAL)
                if state.status == "Running":
                    start_at = resumed_from(state)
                continue
            log(f"running {len(steps)} steps" if start_at == 0 else f"running from step {start_at} of {len(steps)}")
            segment = runner.steps(steps, start_at, may_run)
            state = client.get(procedure_id)
            # Still Running with nobody's resume in between: go on where the record says, not from the
            # replay's boundary again (the steps done since would run twice).
            if segment != "done" and state.status == "Running":
                start_at = suggested()


class StepRunner:
    """Executes steps on the instrument and reports them."""

    def __init__(
        self,
        instrument: Instrument,
        writer: ActivityWriter,
        clock: Clock,
        log: Log,
        heartbeat_seconds: float,
        tolerance: float,
    ) -> None:
        self.instrument = instrument
        self.writer = writer
        self.clock = clock
        self.log = log
        self.heartbeat_seconds = heartbeat_seconds
        self.tolerance = tolerance
        self.heartbeats = heartbeat_seconds > 0

    def steps(self, steps: list[Any], start_at: int, may_run: Callable[[int], bool]) -> str:
        """Steps from ``start_at`` on: "done", "failed", or "interrupted" (the service stopped taking reports)."""
        try:
            for index in range(start_at, len(steps)):
                step = steps[index]
                if step.kind in ("action", "compute") and not may_run(index):
                    return "interrupted"
                if not self.execute(index, step):
                    self.writer.flush()
                    return "failed"
            self.writer.flush()
            return "done"
        except ProblemError as error:
            # The service refused a report (the procedure was held or ended meanwhile): the caller reads the state.
            self.log(f"report refused: {error}")
            self.writer.reset()
            return "interrupted"

    def execute(self, index: int, step: Any) -> bool:
        """Runs one step and reports it; False when it failed."""
        if step.deadline_seconds is not None:
            # Heartbeats do not extend a deadline: a step that overruns it gets a StepOverdue decision.
            self.log(f"step {index} ({step.kind}) has a deadline of {step.deadline_seconds} s from its in_flight")
        try:
            outcome = self.perform(index, step)
        except InstrumentError as error:
            outcome = Failure(error.error_class, str(error))
        if isinstance(outcome, Failure):
            self.log(f"step {index} failed: {outcome.error_class}: {outcome.message}")
            self.writer.failed(index, outcome.error_class, outcome.message, **outcome.extra)
            return False
        self.writer.ok(index, **outcome)
        return True

    def perform(self, index: int, step: Any) -> dict[str, Any] | Failure:
        """The step's effect or reading; what it measured goes into the ``ok`` report."""
        if step.kind == "setpoint":
            self.writer.in_flight(index)
            self.effect(index, lambda progress: self.instrument.set(step.address, step.value, progress))
            if not step.verify:
                return {}
            readback = self.instrument.read(step.address)
            if abs(readback - step.value) <= self.tolerance:
                return {"readback": readback}
            return Failure(
                "SetpointNotReached", f"{step.address} reads {readback}, set to {step.value}", readback=readback
            )
        if step.kind == "action":
            self.writer.in_flight(index)
            self.effect(index, lambda progress: self.instrument.act(step.name, step.params, progress))
            return {}
        if step.kind == "compute":
            self.writer.in_flight(index)
            result: dict[str, Any] = self.effect(
                index, lambda progress: self.instrument.compute(step.command, step.parameters, progress)
            )
            return result
        if step.kind == "check":
            value = self.instrument.read(step.address)
            criterion = step.criterion
            if criterion.kind == "equals":
                if value == criterion.expected:
                    return {"value": value}
                return Failure("NotEqual", f"{step.address} reads {value}, expected {criterion.expected}", value=value)
            if abs(value - criterion.expected) <= criterion.tolerance:
                return {"value": value}
            expected = f"{criterion.expected} ± {criterion.tolerance}"
            return Failure("OutOfTolerance", f"{step.address} reads {value}, expected {expected}", value=value)
        if step.kind == "capture":
            return self.instrument.capture(step.address, step.capture_name)
        raise ValueError(f"unknown step kind {step.kind}")

    def effect(self, index: int, run: Callable[[Callable[[float], None]], Any]) -> Any:
        """Runs an effect, with a heartbeat every ``heartbeat_seconds`` while it lasts."""
        last = self.clock.now()

        def progress(fraction: float) -> None:
            nonlocal last
            if not self.heartbeats or self.clock.now() - last < self.heartbeat_seconds:
                return
            last = self.clock.now()
            beat = self.writer.heartbeat(index, round(fraction, 3))
            beat.add_done_callback(self.heartbeat_answered)

        return run(progress)

    def heartbeat_answered(self, beat: Any) -> None:
        # A refused heartbeat is refused alone (the writer sends it in its own batch): the step goes on without them.
        error = beat.exception()
        if isinstance(error, ProblemError) and self.heartbeats:
            self.heartbeats = False
            self.log(f"heartbeats off: the service refused one ({error})")
