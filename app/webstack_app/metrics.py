"""Prometheus metrics: requests by route and status, a latency histogram, and the DB pool state.

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
INFO = Gauge("webstack_app_info", "The running application version", ["version"],
             multiprocess_mode="max")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def update_pool(engine: Engine) -> None:
    for state, value in pool_state(engine).items():
        POOL.labels(state).set(value)


def exposition() -> tuple[bytes, str]:
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
