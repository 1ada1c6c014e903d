"""Real gunicorn with the image's command line: env-driven config, JSON logs, graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pymysql
import pytest
import requests

from webstack.servers import port_open, wait_until

pytestmark = [pytest.mark.app, pytest.mark.usefixtures("empty_notes")]


def json_lines(log: Path) -> list[dict]:
    lines = log.read_text(errors="replace").splitlines()
    bad = [line for line in lines if not line.startswith("{")]
    assert not bad, f"non-JSON log lines: {bad[:3]}"
    return [json.loads(line) for line in lines]


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_serves_the_api_with_json_access_logs(gunicorn, database):
    proc, url = gunicorn(database)
    res = requests.post(f"{url}/api/notes?src=test", json={"title": "via gunicorn"},
                        headers={"X-Request-ID": "abc-123", "User-Agent": "webstack-test"}, timeout=10)
    assert res.status_code == 201 and res.headers["X-Request-ID"] == "abc-123"
    generated = requests.get(f"{url}/healthz", timeout=10).headers["X-Request-ID"]
    wait_until(lambda: generated in proc.log.read_text(), 10, "access log line")
    access = [e for e in json_lines(proc.log) if e["logger"] == "gunicorn.access"]
    post = next(e for e in access if e["method"] == "POST")
    assert post["request_id"] == "abc-123" and post["status"] == 201 and post["path"] == "/api/notes"
    assert post["query"] == "src=test" and post["user_agent"] == "webstack-test"
    assert post["duration_ms"] >= 0 and post["bytes"] > 0 and post["remote_addr"] == "127.0.0.1"
    assert any(e["request_id"] == generated and e["path"] == "/healthz" for e in access)


def test_configuration_comes_from_the_environment(gunicorn, database, tmp_path):
    big = {"title": "x", "body": "y" * 3000}
    proc, url = gunicorn(database, GUNICORN_WORKERS="3", APP_VERSION="7.7.7", LOG_LEVEL="WARNING",
                         MAX_CONTENT_LENGTH="2048", GUNICORN_THREADS="2")
    wait_until(lambda: len(children(proc.pid)) == 3, 30, "3 gunicorn workers", log=proc.log)
    assert requests.get(f"{url}/version", timeout=10).json()["app_version"] == "7.7.7"
    res = requests.post(f"{url}/api/notes", json=big, timeout=10)
    assert res.status_code == 413 and res.json()["error"]
    # LOG_LEVEL=WARNING silences gunicorn's INFO start-up lines (access lines are separate).
    assert not [e for e in json_lines(proc.log) if e["logger"] == "gunicorn.error" and e["level"] == "INFO"]
    # Only GUNICORN_WORKER_TMP_DIR is written to (shared metrics by default); the working dir stays empty.
    assert [p.name for p in (tmp_path / "shm").iterdir()] == ["prometheus-multiproc"]
    proc.stop()
    assert proc.popen.returncode == 0
    assert list((tmp_path / "cwd").iterdir()) == []


def test_bad_worker_tmp_dir_stops_with_a_clear_message(gunicorn, database):
    proc, _ = gunicorn(database, wait=False, GUNICORN_WORKER_TMP_DIR="/nonexistent/tmp")
    assert proc.popen.wait(30) != 0
    assert "GUNICORN_WORKER_TMP_DIR=/nonexistent/tmp: expected a writable directory" in proc.log.read_text()


def test_bad_app_configuration_stops_the_master_before_binding(gunicorn, database):
    proc, _ = gunicorn(database, wait=False, DB_PORT="abc")
    assert proc.popen.wait(30) != 0
    log = proc.log.read_text()
    assert "webstack_app: configuration error: DB_PORT='abc': expected an integer" in log
    assert "Traceback" not in log and "Booting worker" not in log


def test_nothing_written_outside_the_tmp_dir(gunicorn, database, tmp_path):
    """Stand-in for the read-only root filesystem: HOME and the working dir stay untouched."""
    home = tmp_path / "home"
    home.mkdir()
    proc, url = gunicorn(database, HOME=str(home), XDG_RUNTIME_DIR="")
    assert requests.get(f"{url}/api/notes", timeout=10).status_code == 200
    proc.stop()
    assert list(home.iterdir()) == []  # the control socket ($HOME/.gunicorn) is disabled


def test_sigterm_finishes_in_flight_requests(gunicorn, database, mariadb_server):
    proc, url = gunicorn(database, GUNICORN_GRACEFUL_TIMEOUT="60", DB_READ_TIMEOUT="120")
    port = int(url.rsplit(":", 1)[1])
    result: dict[str, object] = {}

    def slow_request() -> None:
        try:
            result["response"] = requests.get(f"{url}/api/notes", timeout=60)
        except Exception as exc:
            result["error"] = exc

    # Hold a write lock so the listing blocks inside the database: a request genuinely in flight.
    locker = pymysql.connect(host="127.0.0.1", port=mariadb_server.port, user="root", database=database)
    try:
        locker.cursor().execute("LOCK TABLES notes WRITE")
        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_until(lambda: "lock" in mariadb_server.sql(
            "SELECT COALESCE(GROUP_CONCAT(STATE), '') FROM information_schema.PROCESSLIST "
            f"WHERE DB = '{database}' AND INFO LIKE 'SELECT%notes%'"), 20, "the request to block on the lock")
        os.kill(proc.pid, signal.SIGTERM)
        wait_until(lambda: "Handling signal: term" in proc.log.read_text(), 20, "gunicorn to get SIGTERM",
                   log=proc.log)
        assert thread.is_alive() and proc.alive(), result  # still draining the in-flight request
    finally:
        locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    thread.join(60)
    assert "error" not in result, result.get("error")
    response = result["response"]
    assert isinstance(response, requests.Response) and response.status_code == 200
    assert proc.popen.wait(60) == 0
    assert not port_open(port)
    messages = [e["message"] for e in json_lines(proc.log) if e["logger"] == "gunicorn.error"]
    assert "Handling signal: term" in messages and "Shutting down: Master" in messages


@pytest.mark.parametrize("explicit", [True, False], ids=["PROMETHEUS_MULTIPROC_DIR", "default-dir"])
def test_multiprocess_metrics_sum_every_worker(gunicorn, database, tmp_path, explicit):
    metrics_dir = tmp_path / "prom" if explicit else tmp_path / "shm" / "prometheus-multiproc"
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # from a previous container run
    extra = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)} if explicit else {}
    proc, url = gunicorn(database, GUNICORN_WORKERS="2", **extra)
    wait_until(lambda: len(children(proc.pid)) == 2, 30, "2 gunicorn workers", log=proc.log)
    assert not (metrics_dir / "counter_999999.db").exists()
    n = 40
    for _ in range(n):  # a new connection each time, so both workers get some
        requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=10)
    wait_until(lambda: proc.log.read_text().count('"path": "/healthz"') == n, 10, "access lines")
    pids = {e["pid"] for e in json_lines(proc.log) if e.get("path") == "/healthz"}
    for _ in range(3):  # whichever worker answers, it reports all of them
        text = requests.get(f"{url}/metrics", timeout=10).text
        line = next(line for line in text.splitlines()
                    if line.startswith("webstack_http_requests_total{") and 'route="/healthz"' in line)
        assert float(line.rsplit(" ", 1)[1]) == n, (line, pids)
