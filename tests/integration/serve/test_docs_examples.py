"""The Python examples in docs/serve.md and README.md run as written against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    out = []
    for doc in ("docs/serve.md", "README.md"):
        for i, code in enumerate(BLOCK.findall((ROOT / doc).read_text())):
            # client examples (server snippets block); sequence examples need a sequence
            # model and run in test_sequences.py
            if "InferenceServerClient" in code and "sequence_id=" not in code:
                out.append((f"{doc}#{i}", code))
    return out


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[w for w, _ in _examples()])
def test_client_example_runs(demo_server: ServerProcess, where: str, code: str) -> None:
    """Each client example runs unchanged but for the ports, and prints without error."""
    code = code.replace("127.0.0.1:8000", demo_server.http_url)
    code = code.replace("127.0.0.1:8001", demo_server.grpc_url)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"
    assert done.stdout.strip(), f"{where} printed nothing"
