"""A Bluesky RunEngine callback that makes each run a procedure on the service.

    from procedure_edge import Client
    from procedure_edge.bluesky import ProcedureRecorder

    recorder = ProcedureRecorder(Client(), "grid scan", "xrd-scan", ["diffractometer-1"])
    recorder.subscribe(RE)      # or RE.subscribe(recorder), with RE.record_interruptions = True

- A run's ``start`` document registers and starts a procedure (or attaches to
  the ``procedure_id`` given), and opens its logbook with a ``run-start`` entry.
- Each ``event`` is a logbook entry with its readings (``step_kind`` the
  stream's name), sent in batches through the activity writer.
- A pause or a suspension (the RunEngine records it as an ``interruptions``
  event) holds the procedure with cause ``driver-stand-down``; ``RE.resume()``,
  or the run's next event after a suspension, resumes it.
- ``stop`` completes the procedure on success and aborts it with the exit
  status and reason otherwise (a run that ends while paused is resumed first:
  its stand-down is over, and a Held procedure's logbook takes no entries).
- While a run is open and nothing else was sent for ``heartbeat_seconds``, a
  heartbeat entry keeps a long acquisition from looking stalled.

The RunEngine calls the recorder on its own thread; commands are sent there
(after the writer flushed what came before them), entries from the writer's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._operations import HoldCause
from .client import Client
from .writer import ActivityWriter, iso_now

DRIVER_STAND_DOWN: HoldCause = "driver-stand-down"


def jsonable(value: Any) -> Any:
    """Readings as JSON: numpy scalars and arrays become numbers and lists, anything else unknown its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    return str(value)


class ProcedureRecorder:
    """Records RunEngine runs as procedures. ``procedure_id`` names the procedure of the last run."""

    def __init__(
        self,
        client: Client,
        name: str | None = None,
        kind: str = "bluesky-run",
        target_asset_ids: Sequence[str] = (),
        *,
        procedure_id: str | None = None,
        heartbeat_seconds: float = 60.0,
        flush_after: float = 0.1,
    ) -> None:
        self.client = client
        self.name = name
        self.kind = kind
        self.target_asset_ids = list(target_asset_ids)
        self.procedure_id: str | None = procedure_id
        self._attach_to = procedure_id
        self.heartbeat_seconds = heartbeat_seconds
        self.flush_after = flush_after
        self._writer: ActivityWriter | None = None
        self._streams: dict[str, str] = {}
        self._held = False
        self._last_sent = time.monotonic()
        self._beating: threading.Event | None = None

    def subscribe(self, run_engine: Any) -> int:
        """Subscribes to ``run_engine`` and has it record interruptions (pauses, suspensions) as documents."""
        run_engine.record_interruptions = True
        token: int = run_engine.subscribe(self)
        return token

    # ---- documents ----

    def __call__(self, name: str, doc: Mapping[str, Any]) -> None:
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(doc)

    def _on_start(self, doc: Mapping[str, Any]) -> None:
        if self._attach_to is not None:
            pid = self._attach_to
            if self.client.get(pid).status == "Defined":
                self.client.start(pid)
        else:
            name = self.name or str(doc.get("plan_name") or "bluesky run")
            procedure = self.client.register(name, self.kind, self.target_asset_ids, idempotency_key=str(doc["uid"]))
            pid = str(procedure.procedure_id)
            self.client.start(pid)
        self.procedure_id = pid
        self._held = False
        self._streams.clear()
        self._writer = self.client.activity_writer(pid, manifest=None, flush_after=self.flush_after)
        keys = ("uid", "scan_id", "plan_name", "plan_args", "detectors", "motors", "num_points")
        self._append("run-start", {key: jsonable(doc[key]) for key in keys if key in doc}, doc.get("time"))
        self._start_heartbeats()

    def _on_descriptor(self, doc: Mapping[str, Any]) -> None:
        self._streams[str(doc["uid"])] = str(doc.get("name", "primary"))

    def _on_event(self, doc: Mapping[str, Any]) -> None:
        stream = self._streams.get(str(doc["descriptor"]), "primary")
        data = doc.get("data", {})
        if stream == "interruptions":
            interruption = str(data.get("interruption", ""))
            if interruption == "resume":
                self._resume()
            else:
                paused = interruption == "pause"
                self._hold("RunEngine paused" if paused else f"RunEngine suspended: {interruption}")
            return
        # A suspension ends without a document of its own: the run's next reading says it goes on.
        self._resume()
        payload = {"seq_num": doc.get("seq_num"), "data": jsonable(data)}
        self._append(stream, payload, doc.get("time"))

    def _on_stop(self, doc: Mapping[str, Any]) -> None:
        writer, pid = self._writer, self.procedure_id
        if writer is None or pid is None:
            return
        self._stop_heartbeats()
        exit_status = str(doc.get("exit_status", "success"))
        reason = str(doc.get("reason") or "")
        # A run that ends while paused ends the stand-down too; a Held procedure's logbook takes no entries.
        self._resume()
        payload = {"exit_status": exit_status, "reason": reason, "num_events": jsonable(doc.get("num_events", {}))}
        self._append("run-stop", payload, doc.get("time"))
        try:
            writer.close()
        finally:
            self._writer = None
        if exit_status == "success":
            self.client.complete(pid)
        else:
            self.client.abort(pid, f"run {exit_status}" + (f": {reason}" if reason else ""))

    # ---- commands ----

    def _hold(self, reason: str) -> None:
        if self._held or self.procedure_id is None:
            return
        if self._writer is not None:
            self._writer.flush()
        self.client.hold(self.procedure_id, reason[:500], cause=DRIVER_STAND_DOWN)
        self._held = True

    def _resume(self) -> None:
        if not self._held or self.procedure_id is None:
            return
        self.client.resume(self.procedure_id, 0, cause=DRIVER_STAND_DOWN)
        self._held = False

    def _append(self, step_kind: str, payload: Mapping[str, Any], when: Any) -> None:
        if self._writer is None:
            return
        sampled_at = iso_now(float(when)) if isinstance(when, (int, float)) else None
        self._writer.append(step_kind, payload, sampled_at)
        self._last_sent = time.monotonic()

    # ---- heartbeats ----

    def _start_heartbeats(self) -> None:
        self._stop_heartbeats()
        if self.heartbeat_seconds <= 0:
            return
        stop = threading.Event()
        self._beating = stop
        self._last_sent = time.monotonic()

        def beat() -> None:
            while not stop.wait(self.heartbeat_seconds / 4):
                writer = self._writer
                if writer is None or self._held or time.monotonic() - self._last_sent < self.heartbeat_seconds:
                    continue
                self._last_sent = time.monotonic()
                # A refused heartbeat is refused alone; the run goes on without it.
                writer.heartbeat(message="acquiring")

        threading.Thread(target=beat, name="procedure-edge-heartbeat", daemon=True).start()

    def _stop_heartbeats(self) -> None:
        if self._beating is not None:
            self._beating.set()
            self._beating = None
