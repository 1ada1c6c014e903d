"""gunicorn straight on a real MariaDB, measured with wrk: req/s, p50 and p99 for list and create."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from webstack.paths import APP_DIR
from webstack.servers import (
    LOOPBACK,
    MariaDB,
    free_port,
    port_open,
    service_tempdir,
    start_process,
    wait_until,
)

DURATION_S = 5
CONNECTIONS = 16
WRK_THREADS = 2
SEED_NOTES = 200

# wrk prints one JSON line at the end; latencies are in microseconds.
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"title": "bench ' .. counter .. '", "body": "created by wrk"}')
end
"""


def wrk(url: str, script: Path) -> dict[str, float]:
    wrk_bin = shutil.which("wrk")
    if not wrk_bin:
        raise RuntimeError("wrk not found: `make setup` installs it (apt-get install wrk)")
    cmd = [wrk_bin, f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "-s", str(script), url]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    seconds = stats["duration_us"] / 1e6
    return {"rps": stats["requests"] / seconds, "p50_ms": stats["p50_us"] / 1000,
            "p99_ms": stats["p99_us"] / 1000, "errors": sum(stats["errors"].values()),
            "requests": stats["requests"], "error_kinds": {k: v for k, v in stats["errors"].items() if v}}


def run() -> dict[str, dict[str, float]]:
    work = service_tempdir("webstack-bench-app-")
    server = MariaDB(work / "mariadb")
    gunicorn = None
    try:
        server.start()
        server.sql("CREATE DATABASE bench CHARACTER SET utf8mb4")
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(APP_DIR), "DB_HOST": LOOPBACK, "DB_PORT": str(server.port),
               "DB_NAME": "bench", "DB_USER": "root", "DB_PASSWORD": "", "LOG_LEVEL": "WARNING",
               "GUNICORN_BIND": f"{LOOPBACK}:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4",
               "GUNICORN_WORKER_TMP_DIR": str(work)}
        subprocess.run([sys.executable, "-m", "webstack_app", "migrate"], env=env, check=True,
                       capture_output=True)
        values = ",".join(f"('seed {i}', 'seeded', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
                          for i in range(SEED_NOTES))
        server.sql(f"INSERT INTO notes (title, body, created_at, updated_at) VALUES {values}",
                   database="bench")
        gunicorn = start_process("gunicorn", [str(Path(sys.executable).parent / "gunicorn"), "-c",
                                              "python:webstack_app.gunicorn_conf", "webstack_app.wsgi:app"],
                                 work / "gunicorn.log", env=env, cwd=work)
        wait_until(lambda: port_open(port), 30, "gunicorn", log=gunicorn.log, alive=gunicorn.alive)
        report = work / "report.lua"
        report.write_text(REPORT_LUA)
        post = work / "post.lua"
        post.write_text(POST_LUA + REPORT_LUA)
        base = f"http://{LOOPBACK}:{port}"
        subprocess.run([shutil.which("wrk") or "wrk", "-t1", f"-c{CONNECTIONS}", "-d1s", f"{base}/healthz"],
                       capture_output=True, check=False)  # warm-up: workers' first requests are slow
        rows = {
            "healthz (no DB)": wrk(f"{base}/healthz", report),
            "list 20 (GET /api/notes)": wrk(f"{base}/api/notes?limit=20", report),
            "create (POST /api/notes)": wrk(f"{base}/api/notes", post),
        }
    finally:
        if gunicorn:
            gunicorn.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    anchor = rows["healthz (no DB)"]["rps"]
    print(f"gunicorn 2 workers x 4 threads, MariaDB, wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{DURATION_S}s")
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs healthz':>12}")
    for name, r in rows.items():
        print(f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8.0f}"
              f"{r['rps'] / anchor:>11.2f}x")
    list_rps, create_rps = rows["list 20 (GET /api/notes)"]["rps"], rows["create (POST /api/notes)"]["rps"]
    print(f"create/list throughput ratio: {create_rps / list_rps:.2f}")
    for name, r in rows.items():
        if r["errors"]:
            print(f"{name}: errors {r['error_kinds']} of {r['requests']:.0f} requests")
    return rows
