"""The network policy step's verdicts: a block counts only beside an open control to the same target,
and the connect script run for real against loopback listeners says open / refused as it is."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from webstack.lifecycle.netpol_steps import PROBE, Check, _problems


def test_a_block_with_an_open_control_holds() -> None:
    checks = [Check("flask pod", "mysql 10.0.0.1:3306", True, "open"),
              Check("unlabelled probe", "mysql 10.0.0.1:3306", False, "timed out")]
    assert _problems(checks) == []


def test_a_block_nobody_got_through_proves_nothing() -> None:
    checks = [Check("unlabelled probe", "mysql 10.0.0.1:3306", False, "timed out")]
    [problem] = _problems(checks)
    assert "no admitted pod reached it either" in problem


def test_a_leak_and_a_wrongful_block_are_both_reported() -> None:
    checks = [Check("flask pod", "mysql 10.0.0.1:3306", True, "timed out"),
              Check("nginx pod", "mysql 10.0.0.1:3306", False, "open")]
    problems = _problems(checks)
    assert any("flask pod" in p and "expected open" in p for p in problems)
    assert any("nginx pod" in p and "expected blocked" in p for p in problems)


def test_the_connect_script_tells_open_from_refused() -> None:
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        spec = [["up", "127.0.0.1", listening.getsockname()[1], True],
                ["down", "127.0.0.1", closed.getsockname()[1], False]]
        res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(spec), "2", "0.5"],
                             capture_output=True, text=True, check=True, timeout=30)
    out = json.loads(res.stdout)
    assert out["up"]["result"] == "open" and out["up"]["tries"] == 1
    assert out["down"]["result"] != "open" and out["down"]["tries"] >= 2
