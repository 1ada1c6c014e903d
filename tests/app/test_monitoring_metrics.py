"""The app's own metrics behind the chart's alerts and dashboard, read from a real scrape of /metrics.

The database metrics (webstack_db_up, webstack_db_errors_total, the pool) follow a real MariaDB and
a database that cannot be reached; then every series the Grafana dashboard and the alert rules read
must be in that scrape, or be one of the exporters' / kube-state-metrics' names listed in
webstack.monitoring.KNOWN_EXPORTER_METRICS (those cannot be scraped here).
"""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webstack import monitoring
from webstack.paths import CHART_DIR

pytestmark = pytest.mark.app


def scrape(client) -> dict[str, list[tuple[dict[str, str], float]]]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


@pytest.fixture(scope="module")
def scraped(app, app_with_module) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One scrape after real traffic: pages, API, a 404, and a request while the DB is unreachable."""
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/notes").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    broken = app_with_module(DB_PORT="1", DB_CONNECT_TIMEOUT="1").test_client()
    assert broken.get("/api/notes").status_code == 503
    assert client.get("/readyz").status_code == 200
    return scrape(client)


@pytest.fixture(scope="module")
def app_with_module(mariadb_server, database, app_config):
    from webstack_app import create_app

    apps = []

    def make(**extra: str):
        apps.append(create_app(app_config(database, **extra)))
        return apps[-1]

    yield make
    for a in apps:
        a.extensions["webstack_engine"].dispose()


def test_db_up_follows_the_database(app, app_with) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert value(scrape(client), "webstack_db_up") == 1
    broken = app_with(DB_PORT="1", DB_CONNECT_TIMEOUT="1").test_client()
    assert broken.get("/readyz").status_code == 503
    assert value(scrape(broken), "webstack_db_up") == 0
    assert client.get("/readyz").status_code == 200
    assert value(scrape(client), "webstack_db_up") == 1


def test_unreachable_database_counts_as_db_error(app, app_with) -> None:
    client = app.test_client()
    before = value(scrape(client), "webstack_db_errors_total", kind="unavailable")
    broken = app_with(DB_PORT="1", DB_CONNECT_TIMEOUT="1").test_client()
    assert broken.get("/api/notes").status_code == 503
    assert broken.get("/api/notes/1").status_code == 503
    assert value(scrape(client), "webstack_db_errors_total", kind="unavailable") == before + 2


def test_pool_and_request_metrics_are_scraped(scraped) -> None:
    assert value(scraped, "webstack_db_pool_connections", state="size") >= 1
    assert value(scraped, "webstack_http_requests_total", route="/api/notes", status="200") >= 1
    assert value(scraped, "webstack_http_requests_total", route="<unmatched>", status="404") >= 1
    assert value(scraped, "webstack_http_request_duration_seconds_bucket", le="+Inf") >= 3


def _unknown(exprs: list[str], scraped: dict[str, object]) -> set[str]:
    names = set().union(*(monitoring.metric_names(e) for e in exprs))
    assert names, "no metric names found: the expression parser is broken"
    return {n for n in names if n not in scraped and n not in monitoring.KNOWN_EXPORTER_METRICS}


def test_dashboard_reads_only_exported_metrics(scraped) -> None:
    dashboard = json.loads((CHART_DIR / "files" / "grafana-dashboard.json").read_text())
    exprs = monitoring.dashboard_exprs(dashboard)
    assert _unknown(exprs, scraped) == set()
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("request rate", "errors", "latency", "db pool", "mysql up"):
        assert topic in titles, f"no panel about {topic}"


def test_alert_rules_read_only_exported_metrics(scraped) -> None:
    rendered = monitoring.render(CHART_DIR, release="rel", namespace="mon",
                                 values={"mysql": {"backup": {"enabled": True}}})
    exprs = list(monitoring.rule_exprs(rendered.rule_groups).values())
    assert len(exprs) == 7
    assert _unknown(exprs, scraped) == set()


def test_metric_name_parser() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{x="y", le=~"1|2"}[5m]))) > 1 '
            'or max by (namespace) (b_up) == 0 unless on (namespace) c_time')
    assert monitoring.metric_names(expr) == {"a_bucket", "b_up", "c_time"}


def test_db_up_across_gunicorn_workers(gunicorn, database) -> None:
    """With several workers (multiprocess files), the newest check wins, whichever worker answers."""
    import requests

    def db_up(url: str) -> float:
        text = requests.get(f"{url}/metrics", timeout=10).text
        line = next(line for line in text.splitlines() if line.startswith("webstack_db_up"))
        return float(line.rsplit(" ", 1)[1])

    _, url = gunicorn(database, GUNICORN_WORKERS="2")
    for _ in range(4):
        assert requests.get(f"{url}/readyz", headers={"Connection": "close"}, timeout=10).status_code == 200
    assert [db_up(url) for _ in range(4)] == [1.0] * 4
    _, broken = gunicorn(database, GUNICORN_WORKERS="2", DB_PORT="1", DB_CONNECT_TIMEOUT="1")
    assert requests.get(f"{broken}/readyz", headers={"Connection": "close"}, timeout=10).status_code == 503
    assert [db_up(broken) for _ in range(4)] == [0.0] * 4


def test_a_dead_pooled_connection_sets_db_up_to_0_at_once(app) -> None:
    """The pool's invalidate event (what pre-ping does with a connection the server dropped)."""
    from webstack_app import metrics

    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert metrics.DB_UP._value.get() == 1
    engine = app.extensions["webstack_engine"]
    with engine.connect() as conn:
        conn.invalidate()
    assert metrics.DB_UP._value.get() == 0
    assert client.get("/readyz").status_code == 200
    assert metrics.DB_UP._value.get() == 1
