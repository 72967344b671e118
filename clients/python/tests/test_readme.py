"""The README's examples run as written: each ```python block (```py marks a
fragment) runs in its own interpreter with PROCEDURE_EDGE_URL and
PROCEDURE_EDGE_TOKEN pointing at the service, and prints what its comments say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from local_service import LocalService

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def expected_prints(code: str) -> list[str]:
    """What the block's commented print calls say they print: ``print(...)  # what[: or ; a remark]``."""
    comments = re.findall(r"^\s*print\(.*\)\s+#\s*(.+)$", code, flags=re.M)
    return [re.split(r"[:;]", comment)[0].strip() for comment in comments]


def test_the_readme_has_a_gateway_and_a_bluesky_example() -> None:
    assert len(BLOCKS) == 2
    assert "activity_writer" in BLOCKS[0]
    assert "ProcedureRecorder" in BLOCKS[1]


@pytest.mark.parametrize("code", BLOCKS, ids=["gateway", "bluesky"])
def test_a_readme_example_runs_as_written(service: LocalService, code: str) -> None:
    env = {**os.environ, "PROCEDURE_EDGE_URL": service.base_url, "PROCEDURE_EDGE_TOKEN": service.token}
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    printed = ran.stdout.strip().splitlines()
    assert [line.strip() for line in printed] == expected_prints(code)
