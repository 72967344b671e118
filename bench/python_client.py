"""The Python client's figures, printed as tables (run by ``npm run bench:python``,
which serves the bench Worker and passes its URL and admin token)."""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import bluesky.plans as bp
import httpx
from bluesky import RunEngine
from ophyd.sim import det, motor
from procedure_edge import Client
from procedure_edge.bluesky import ProcedureRecorder
from procedure_edge.uuidv7 import uuidv7_generator
from procedure_edge.writer import iso_now

AIM = 1.3
BATCH = 500


def payload(seq: int) -> dict[str, Any]:
    return {"seq": seq, "channel": f"ch-{seq % 8}", "value": round(seq * 0.37 % 100, 2), "unit": "K"}


def table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def in_parallel(work: list[Callable[[], None]]) -> float:
    threads = [threading.Thread(target=job) for job in work]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--batches", type=int, default=60, help="batches of 500 per scenario")
    parser.add_argument("--procedures", type=int, default=4)
    parser.add_argument("--points", type=int, default=1000, help="points of the recorded scan")
    parser.add_argument("--repeats", type=int, default=5, help="scans with and without the recorder")
    args = parser.parse_args()

    admin = Client(args.url, args.token)
    gateway_token = admin.create_principal("bench python gateway", ["gateway", "reader"]).token
    # The recorder both commands (operator) and writes the logbook (gateway).
    operator_token = admin.create_principal("bench python operator", ["operator", "gateway", "reader"]).token
    operator = Client(args.url, operator_token)
    gateway = Client(args.url, gateway_token)

    def started(n: int, tag: str) -> list[str]:
        ids = []
        for i in range(n):
            pid = str(operator.register(f"bench python {tag} {i}", "bench-python", []).procedure_id)
            operator.start(pid)
            ids.append(pid)
        return ids

    def raw(ids: list[str]) -> tuple[int, float]:
        """Pre-built batches posted with httpx, one batch in flight per procedure."""
        per = -(-args.batches // len(ids))
        next_id = uuidv7_generator()

        def body(first: int) -> bytes:
            now = iso_now()
            entries = [
                {"event_id": next_id(), "step_kind": "note", "payload": payload(first + i), "sampled_at": now}
                for i in range(BATCH)
            ]
            return json.dumps({"entries": entries}).encode()

        bodies = [[body(b * BATCH) for b in range(per)] for _ in ids]
        headers = {"authorization": f"Bearer {gateway_token}", "content-type": "application/json"}

        def post_all(pid: str, batches: list[bytes]) -> Callable[[], None]:
            def job() -> None:
                with httpx.Client(base_url=args.url, headers=headers) as http:
                    for body in batches:
                        http.post(f"/v1/procedures/{pid}/activities", content=body).raise_for_status()

            return job

        seconds = in_parallel([post_all(pid, bodies[k]) for k, pid in enumerate(ids)])
        return per * len(ids) * BATCH, seconds

    def via_writer(ids: list[str]) -> tuple[int, float]:
        """The same entries made one at a time through the activity writer, as a gateway makes them."""
        per = -(-args.batches // len(ids)) * BATCH

        def write(pid: str) -> Callable[[], None]:
            def job() -> None:
                with gateway.activity_writer(pid, manifest=None) as writer:
                    for i in range(per):
                        writer.append("note", payload(i))

            return job

        seconds = in_parallel([write(pid) for pid in ids])
        return per * len(ids), seconds

    # Warm-up: the objects exist and the code paths ran before timing.
    raw(started(1, "warm raw"))
    via_writer(started(1, "warm writer"))

    rows: list[list[Any]] = []

    def row(label: str, result: tuple[int, float], floor: tuple[int, float] | None = None) -> None:
        entries, seconds = result
        rate = entries / seconds
        ratio = None if floor is None else (floor[0] / floor[1]) / rate
        within = "" if ratio is None else ("yes" if ratio <= AIM else "NO")
        shown = "(floor)" if ratio is None else f"{ratio:.2f}x"
        rows.append([label, entries, f"{seconds:.2f}", f"{rate:.0f}", shown, within])

    raw1 = raw(started(1, "raw"))
    writer1 = via_writer(started(1, "writer"))
    raw_n = raw(started(args.procedures, "raw many"))
    writer_n = via_writer(started(args.procedures, "writer many"))
    row("raw ingest (httpx), 1 procedure", raw1)
    row("Python writer, 1 procedure", writer1, raw1)
    row(f"raw ingest (httpx), {args.procedures} procedures", raw_n)
    row(f"Python writer, {args.procedures} procedures", writer_n, raw_n)
    print()
    table(["scenario", "entries", "seconds", "entries/s", "raw entries/s / entries/s", f"within {AIM}x"], rows)

    # ---- the recorder ----
    engine = RunEngine({}, call_returns_result=True, context_managers=[])
    # Interruptions recorded in both arms, so the scans differ only by the recorder.
    engine.record_interruptions = True
    recorder = ProcedureRecorder(operator, "bench scan", "bench-bluesky", ["bench-diffractometer"])

    def scan(recorded: bool) -> tuple[float, float]:
        """Wall seconds, and CPU seconds of this process (the RunEngine, the recorder and its writer thread)."""
        token = engine.subscribe(recorder) if recorded else None
        try:
            start, cpu = time.perf_counter(), time.process_time()
            result = engine(bp.scan([det], motor, -1, 1, args.points))
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            if token is not None:
                engine.unsubscribe(token)
        assert result.exit_status == "success"
        if recorded:
            assert recorder.procedure_id is not None
            state = operator.get(recorder.procedure_id)
            assert state.status == "Completed", state.status
        return seconds, cpu

    scan(False)
    scan(True)  # warm-up
    bare: list[tuple[float, float]] = []
    recorded: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        bare.append(scan(False))
        recorded.append(scan(True))
    assert recorder.procedure_id is not None
    entries = len(list(operator.activities(recorder.procedure_id)))

    def figures(label: str, runs: list[tuple[float, float]], floor: tuple[float, float] | None) -> list[Any]:
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        extra = "(floor)"
        if floor is not None:
            extra = f"{(wall - floor[0]) * 1000:+.0f} ms wall, {(cpu - floor[1]) * 1000:+.0f} ms CPU"
        return [label, args.points, f"{wall:.3f}", f"{wall / args.points * 1000:.2f}", f"{cpu:.3f}", extra]

    plain = (statistics.median(r[0] for r in bare), statistics.median(r[1] for r in bare))
    print()
    table(
        ["scan (ophyd.sim det, motor)", "points", "median wall s", "ms per point", "median CPU s", "recorder overhead"],
        [figures("without the recorder", bare, None), figures("with ProcedureRecorder", recorded, plain)],
    )
    print()
    print(f"Median of {args.repeats} scans each, alternating. A recorded scan registers and starts a procedure, writes")
    print(f"{entries} logbook entries through the writer (run-start, one per reading, run-stop) and completes it; the")
    print("writer sends from its own thread, so the RunEngine waits only for the commands and the final flush.")
    print(f"Raw ingest posts pre-built batches of {BATCH}; the writer makes each entry (UUIDv7 id, sample time) and")
    print(f"batches up to {BATCH}, one batch in flight per procedure so the service records them in order.")
    admin.close()
    operator.close()
    gateway.close()


if __name__ == "__main__":
    main()
