"""The Worker served locally for the tests, the model generator and the bench:
``scripts/serve-local.mjs`` (the service's own wrangler.toml, a free port,
throw-away state, a fresh admin token), stopped when the block ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class LocalService:
    base_url: str
    token: str


def node() -> str:
    pinned = ROOT / "node_modules" / ".bin" / "node"
    found = str(pinned) if pinned.exists() else shutil.which("node")
    if found is None:
        raise RuntimeError("node is not on the PATH: run npm install at the repository root first")
    return found


@contextmanager
def local_service(script: str = "scripts/serve-local.mjs", *args: str) -> Iterator[LocalService]:
    """Serves the Worker until the block ends; the server also stops if this process dies (its stdin closes)."""
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}
    child = subprocess.Popen(
        [node(), str(ROOT / script), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            error = child.stderr.read() if child.stderr else ""
            raise RuntimeError(f"the local service did not start:\n{error[-4000:]}")
        started = json.loads(line)
        yield LocalService(base_url=started["base_url"], token=started["token"])
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait(timeout=10)
        for stream in (child.stdout, child.stderr):
            if stream:
                stream.close()
