"""`webstack stack up|down` across shells, and the teardown when a start-up step fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from webstack.servers import ServerError
from webstack.stack import Stack, new_root

pytestmark = pytest.mark.stack


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            pytest.fail(f"`stack up` exited {proc.returncode} before it was up:\n{proc.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"`stack up` wrote no state file within {timeout:.0f}s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def _using(root: str) -> list[int]:
    """Processes whose command line mentions the stack's folder."""
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if root.encode() in cmdline.read_bytes():
                out.append(int(cmdline.parent.name))
        except OSError:
            continue
    return out


def _up(state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "webstack", "stack", "up", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _down(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", "stack", "down", "--state", str(state)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_up_in_one_shell_down_from_another(tmp_path: Path):
    state_file = tmp_path / "state.json"
    up = _up(state_file)
    try:
        state = _wait_for(state_file, up)
        assert requests.get(state["url"] + "/readyz", timeout=10).status_code == 200
        assert set(state["pids"]) == {"nginx", "gunicorn", "mariadb"}
        down = _down(state_file)
        assert down.returncode == 0, down.stderr
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            up.kill()
    assert "is up: http://127.0.0.1:" in up.stdout.read()  # type: ignore[union-attr]
    assert not state_file.exists()
    assert not Path(state["root"]).exists()
    assert not [p for p in state["pids"].values() if _alive(p)]


def test_down_cleans_up_after_a_killed_up(tmp_path: Path):
    state_file = tmp_path / "state.json"
    up = _up(state_file)
    state = _wait_for(state_file, up)
    up.send_signal(signal.SIGKILL)  # no chance to tear down: the servers keep running
    up.wait(10)
    assert all(_alive(p) for p in state["pids"].values())
    down = _down(state_file)
    assert down.returncode == 0, down.stderr
    assert "`stack up` was gone" in down.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(p) for p in state["pids"].values()):
        time.sleep(0.2)
    assert not [p for p in state["pids"].values() if _alive(p)]
    assert not Path(state["root"]).exists() and not state_file.exists()


def test_a_failed_step_tears_down_what_started(tmp_path: Path):
    # Valid values, a folder that does not exist where gunicorn runs: MariaDB and the migration
    # have started and finished by the time gunicorn exits.
    values = tmp_path / "bad-tmp-dir.yaml"
    values.write_text("flask:\n  gunicorn:\n    workerTmpDir: /nonexistent/webstack\n")
    root = new_root()
    with pytest.raises(ServerError, match=r"gunicorn on 127\.0\.0\.1:\d+: the process exited before it "
                                          r"was ready\n(.|\n)*nonexistent/webstack"):
        Stack(root, [values]).up()
    assert not root.exists()
    assert _using(str(root)) == []
