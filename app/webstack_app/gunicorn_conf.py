"""gunicorn settings, all from the environment.

    gunicorn -c python:webstack_app.gunicorn_conf webstack_app.wsgi:app

Built for a read-only root filesystem: the worker heartbeat files live in GUNICORN_WORKER_TMP_DIR
(default /dev/shm, or an emptyDir), the control socket (which would write under $HOME) is off,
and logs go to stdout/stderr as JSON. With more than one worker, metrics are shared through
PROMETHEUS_MULTIPROC_DIR, by default a folder inside GUNICORN_WORKER_TMP_DIR.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any

from gunicorn.glogging import Logger


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        sys.exit(f"webstack_app: configuration error: {name}={raw!r}: expected an integer >= {minimum}")
    if value < minimum:
        sys.exit(f"webstack_app: configuration error: {name}={value}: expected an integer >= {minimum}")
    return value


bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]
workers = _int("GUNICORN_WORKERS", 2, minimum=1)
threads = _int("GUNICORN_THREADS", 4, minimum=1)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 5, minimum=1)
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")
if not os.path.isdir(worker_tmp_dir) or not os.access(worker_tmp_dir, os.W_OK):
    sys.exit(f"webstack_app: configuration error: GUNICORN_WORKER_TMP_DIR={worker_tmp_dir}: "
             "expected a writable directory (/dev/shm or an emptyDir)")
control_socket_disable = True  # it would write under $HOME, read-only in the pod
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "webstack_app"
# nginx in front sets X-Forwarded-*; trust it only from the addresses given (default: loopback).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Reject absurd request lines/headers early (nginx limits them too).
limit_request_line = 8190
limit_request_fields = 100

if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each worker counts alone otherwise, and /metrics would show whichever worker answered.
    # Set before webstack_app (and so prometheus_client) is imported: the mode is chosen at import.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(worker_tmp_dir, "prometheus-multiproc")

from webstack_app.config import ConfigError, from_env  # noqa: E402 - after the metrics mode is set
from webstack_app.logs import JsonFormatter  # noqa: E402

# Check the app's environment in the master, before binding: one clear line instead of every
# worker failing to boot with a traceback.
try:
    from_env()
except ConfigError as exc:
    sys.exit(f"webstack_app: configuration error: {exc}")


class JsonLogger(Logger):
    """gunicorn's logger with one JSON object per line: the error log and the access log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta) -> None:
        if not self.access_log_enabled:
            return
        try:  # a log line must never break a response
            entry = self.access_entry(resp, environ, request_time)
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:
            self.exception("access log failed")

    @staticmethod
    def access_entry(resp: Any, environ: dict[str, Any], request_time: dt.timedelta) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (resp.headers.items() if isinstance(resp.headers, dict)
                                            else resp.headers)}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        return {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "request_id": headers.get("x-request-id"),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "protocol": environ.get("SERVER_PROTOCOL"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }


logger_class = JsonLogger


def on_starting(server: Any) -> None:
    """Wipe stale per-process metric files from a previous run (an emptyDir survives a container restart)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
