"""Prometheus metrics: requests by route and status, a latency histogram, the DB pool state, whether
the database answers (webstack_db_up) and database errors by kind.

With several gunicorn workers each process counts alone; when PROMETHEUS_MULTIPROC_DIR is set
(a writable emptyDir, wiped at start) prometheus-client keeps the values in files there and
/metrics aggregates every worker (gunicorn_conf marks exited workers dead).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webstack_app.db import pool_state

disable_created_metrics()  # the *_created series double the output and nobody graphs them

REQUESTS = Counter("webstack_http_requests_total", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("webstack_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
# livesum: the pool gauges of the live workers add up to the pod's total.
POOL = Gauge("webstack_db_pool_connections", "Database pool connections by state",
             ["state"], multiprocess_mode="livesum")
# The app's own view of its database (no exporter needed): set by every readiness check and by a
# query that fails to reach it. The newest value of the live workers wins.
DB_UP = Gauge("webstack_db_up",
              "1 when the last database check (readiness probe or query) reached it, else 0",
              multiprocess_mode="livemostrecent")
DB_ERRORS = Counter("webstack_db_errors_total",
                    "Database errors, by kind: unavailable (answered 503) or query (answered 500)", ["kind"])
INFO = Gauge("webstack_app_info", "The running application version", ["version"],
             multiprocess_mode="max")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def database_reached(up: bool) -> None:
    DB_UP.set(1 if up else 0)


def watch_engine(engine: Engine) -> None:
    """A pooled connection found dead (pre-ping, or a query) means the database went away: say so at
    once, before the reconnect attempt's own timeout; the next successful check sets 1 again."""
    event.listen(engine, "invalidate", lambda *_: database_reached(False))


def database_error(kind: str) -> None:
    DB_ERRORS.labels(kind).inc()
    if kind == "unavailable":
        DB_UP.set(0)


def update_pool(engine: Engine) -> None:
    for state, value in pool_state(engine).items():
        POOL.labels(state).set(value)


def exposition() -> tuple[bytes, str]:
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
