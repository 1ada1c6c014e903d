"""The HTML page, the probes, /version, /metrics, request ids and JSON logs (Flask test client)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from webstack.paths import APP_DIR
from webstack_app.logs import JsonFormatter
from webstack_app.migrate import head

APP_VERSION = (APP_DIR / "VERSION").read_text().strip()

pytestmark = [pytest.mark.app, pytest.mark.usefixtures("empty_notes")]


def test_page_lists_notes_escaped(client):
    client.post("/api/notes", json={"title": "<script>alert(1)</script>", "body": "a & b \"q\""})
    res = client.get("/")
    assert res.status_code == 200 and res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "a &amp; b &#34;q&#34;" in html
    assert '<form method="post"' in html and "1 note" in html


def test_page_form_adds_a_note_and_redirects(client):
    res = client.post("/", data={"title": "from the form", "body": "ünïcode <b>"})
    assert res.status_code == 303 and res.headers["Location"] == "/"
    notes = client.get("/api/notes").get_json()["notes"]
    assert [(n["title"], n["body"]) for n in notes] == [("from the form", "ünïcode <b>")]
    assert "ünïcode &lt;b&gt;" in client.get("/").get_data(as_text=True)


def test_page_form_rejects_empty_title_with_400_page(client):
    res = client.post("/", data={"title": "  ", "body": "x"})
    assert res.status_code == 400 and "title must not be empty" in res.get_data(as_text=True)
    assert client.get("/api/notes").get_json()["total"] == 0


def test_healthz_never_needs_the_database(app_with):
    # An app pointed at a closed port: liveness stays 200, readiness says 503.
    client = app_with(DB_PORT="1", DB_CONNECT_TIMEOUT="1").test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"
    assert client.get("/version").get_json()["schema_version"] is None
    res = client.get("/api/notes")
    assert res.status_code == 503 and res.headers["Retry-After"] == "5"
    assert res.get_json() == {"error": "database unavailable, try again later", "field": None}


def test_readyz_and_version(client):
    assert client.get("/readyz").status_code == 200
    assert client.get("/version").get_json() == {"app_version": APP_VERSION, "schema_version": head()}


def test_app_version_comes_from_the_environment(app_with):
    assert app_with(APP_VERSION="2.3.4-rc.1").test_client().get("/version").get_json()["app_version"] == \
        "2.3.4-rc.1"


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            series, value = line.rsplit(" ", 1)
            got = ",".join(sorted(series[len(name) + 1:-1].split(",")))
            if got == want:
                return float(value)
    return 0.0


def test_metrics_count_requests_by_route_and_status(client):
    before = client.get("/metrics").get_data(as_text=True)
    note = client.post("/api/notes", json={"title": "m"}).get_json()
    client.get(f"/api/notes/{note['id']}")
    client.get("/api/notes/424242")
    client.get("/no/such/path")
    text = client.get("/metrics").get_data(as_text=True)

    def delta(name: str, **labels: str) -> float:
        return metric(text, name, **labels) - metric(before, name, **labels)

    route = "/api/notes/<int:note_id>"
    assert delta("webstack_http_requests_total", method="POST", route="/api/notes", status="201") == 1
    assert delta("webstack_http_requests_total", method="GET", route=route, status="200") == 1
    assert delta("webstack_http_requests_total", method="GET", route=route, status="404") == 1
    assert delta("webstack_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert delta("webstack_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert metric(text, "webstack_db_pool_connections", state="size") == 5
    assert metric(text, "webstack_db_pool_connections", state="checkedin") >= 1
    assert metric(text, "webstack_app_info", version=APP_VERSION) == 1
    assert 'webstack_http_request_duration_seconds_bucket{le="0.005"' in text


@pytest.mark.parametrize("incoming", ["0123456789abcdef0123456789abcdef", "req-1:a.b_c", "x" * 128])
def test_valid_request_id_is_echoed(client, incoming):
    assert client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "semi;colon", "new\\nline", "ü"])
def test_missing_or_invalid_request_id_is_replaced(client, incoming):
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    got = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert got != incoming and len(got) == 32 and int(got, 16) >= 0
    assert client.get("/healthz").headers["X-Request-ID"] != got  # fresh every time


def test_app_logs_are_json_with_the_request_id(app_with):
    # A request that logs (the database is unreachable): the line carries that request's id.
    client = app_with(DB_PORT="1", DB_CONNECT_TIMEOUT="1").test_client()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("webstack_app")
    logger.addHandler(handler)
    try:
        client.get("/api/notes", headers={"X-Request-ID": "trace-42"})
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entries, "the failed request logged nothing"
    for entry in entries:
        assert entry["request_id"] == "trace-42"
        assert entry["level"] == "WARNING" and entry["time"].endswith("+00:00")
    assert entries[0]["message"] == "database unavailable: OperationalError"
    assert "Can't connect" in entries[0]["detail"]
