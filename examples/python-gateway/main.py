"""``npm run gateway:python -- --procedure <id> [options]``: runs the Python
reference gateway against a simulated instrument until the procedure ends.
With the client installed (``pip install ./clients/python``) it also runs as
``python examples/python-gateway/main.py``."""

from __future__ import annotations

import argparse
import os
import sys
import time

from gateway import run_gateway
from instrument import DEFAULT_DELAYS, NO_DELAYS, SimulatedInstrument, parse_fault

from procedure_edge import Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="npm run gateway:python --", description=__doc__)
    parser.add_argument(
        "--procedure", default=os.environ.get("EDGE_PROCEDURE"), help="the conducted procedure to run (EDGE_PROCEDURE)"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("PROCEDURE_EDGE_URL", "http://localhost:8787"),
        help="the service (PROCEDURE_EDGE_URL, default http://localhost:8787)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("PROCEDURE_EDGE_TOKEN"),
        help="a principal with the gateway role (PROCEDURE_EDGE_TOKEN)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=parse_fault,
        help="make the simulated instrument misbehave, repeatable: offset:<address>:<offset>[:times] "
        "(reads are off by <offset>) or error:<address|action>:<ErrorClass>[:times] (the operation fails)",
    )
    parser.add_argument("--no-delays", action="store_true", help="a simulated instrument that takes no time")
    parser.add_argument("--heartbeat-seconds", type=float, default=10.0, help="a heartbeat this often in a long step")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to read the state while waiting")
    args = parser.parse_args(argv)
    if not args.procedure or not args.token:
        parser.print_usage(sys.stderr)
        print("--procedure and --token (or EDGE_PROCEDURE and PROCEDURE_EDGE_TOKEN) are needed", file=sys.stderr)
        return 2

    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[gateway +{time.monotonic() - started:.1f}s] {line}", flush=True)

    instrument = SimulatedInstrument(delays=NO_DELAYS if args.no_delays else DEFAULT_DELAYS, faults=args.fault)
    with Client(args.url, args.token) as client:
        try:
            final = run_gateway(
                client,
                args.procedure,
                instrument,
                log=log,
                heartbeat_seconds=args.heartbeat_seconds,
                poll_seconds=args.poll_seconds,
            )
        except Exception as error:  # the gateway stops; the procedure's record says where
            log(f"stopped: {error}")
            return 1
    return 0 if final.status == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
