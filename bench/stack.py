"""The stack tier's cost: wrk through nginx versus straight at gunicorn, for a read and a write.

Prints requests per second, p50 and p99 latency per path, the proxy overhead ratios, and the peak
resident memory (VmHWM, the process and its children) of nginx, gunicorn and MariaDB.
Knobs: WEBSTACK_BENCH_SECONDS (default 5), WEBSTACK_BENCH_CONNECTIONS (default 16).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

WRITE_LUA = """wrk.method = "POST"
wrk.body = '{"title": "bench", "body": "written by wrk through the stack"}'
wrk.headers["Content-Type"] = "application/json"
"""
READ_PATH = "/api/notes?limit=20"
WRITE_PATH = "/api/notes"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r} not understood")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> Run:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Run(rps, p50, p99, errors + (int(non2xx.group(1)) if non2xx else 0))


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> Run:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"wrk failed: {res.stderr or res.stdout}")
    return parse_wrk(res.stdout)


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from webstack.stack import running
    from webstack.stack.ops import peak_rss_kb

    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed: `make setup` (apt-get install wrk)")
    seconds = int(os.environ.get("WEBSTACK_BENCH_SECONDS", "5"))
    conns = int(os.environ.get("WEBSTACK_BENCH_CONNECTIONS", "16"))
    with tempfile.TemporaryDirectory(prefix="webstack-bench-") as tmp, running() as stack:
        lua = Path(tmp) / "post.lua"
        lua.write_text(WRITE_LUA)
        for i in range(50):  # a page of notes for the read
            requests.post(stack.base_url + WRITE_PATH, json={"title": f"seed {i}", "body": "x" * 200},
                          timeout=10)
        results: dict[tuple[str, str], Run] = {}
        for kind, path, script in (("read", READ_PATH, None), ("write", WRITE_PATH, lua)):
            for via, base in (("nginx", stack.base_url), ("gunicorn", stack.app_url)):
                results[(kind, via)] = wrk(base + path, seconds, conns, script)
        rss = {name: peak_rss_kb(pid) for name, pid in stack.processes().items()}

    table = Table(title=f"stack: wrk -t2 -c{conns} -d{seconds}s (shared cores: compare ratios)")
    for col in ("endpoint", "via", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(col, justify="right" if col not in ("endpoint", "via") else "left")
    for (kind, via), r in results.items():
        path = READ_PATH if kind == "read" else f"POST {WRITE_PATH}"
        table.add_row(f"{kind} {path}", via, f"{r.rps:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                      str(r.errors))
    ratios = Table(title="proxy overhead (nginx / direct)")
    for col in ("endpoint", "throughput ratio", "p50 ratio", "p99 ratio"):
        ratios.add_column(col)
    for kind in ("read", "write"):
        n, g = results[(kind, "nginx")], results[(kind, "gunicorn")]
        ratios.add_row(kind, f"{n.rps / g.rps:.2f}x", f"{n.p50_ms / g.p50_ms:.2f}x",
                       f"{n.p99_ms / g.p99_ms:.2f}x")
    mem = Table(title="peak RSS (VmHWM, process + children)")
    mem.add_column("process")
    mem.add_column("MiB", justify="right")
    for name, kb in rss.items():
        mem.add_row(name, f"{kb / 1024:.1f}")
    console = Console(width=120)
    for t in (table, ratios, mem):
        console.print(t)
