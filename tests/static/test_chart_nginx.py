"""The rendered nginx.conf, run by the real nginx on loopback in front of a recording upstream:
request IDs, forwarded headers, security headers, gzip, body limit, health and stub_status behave as
the chart promises. The file is changed only where the stack tier changes it (webstack.stack.nginx).
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from webstack import helm
from webstack.errors import HelmError
from webstack.paths import CHART_DIR
from webstack.render import RELEASE
from webstack.servers import LOOPBACK, free_port, port_open, service_tempdir, start_process, wait_until
from webstack.stack import nginx as stack_nginx

pytestmark = pytest.mark.static


class Recorder(BaseHTTPRequestHandler):
    """Upstream stand-in: answers JSON describing the request it got (a large body, to be gzipped)."""

    protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the kept-alive stream in step
        body = json.dumps({"path": self.path, "headers": dict(self.headers), "pad": "x" * 2048}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-ID", "upstream-would-say-this")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def nginx() -> Iterator[dict[str, Any]]:
    if not shutil.which("nginx"):
        pytest.fail("nginx is not installed (apt-get install nginx / make setup)")
    upstream = ThreadingHTTPServer((LOOPBACK, 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    target = f"nginx.upstream.host={LOOPBACK},nginx.upstream.port={upstream.server_address[1]}"
    out = helm.run(["template", RELEASE, str(CHART_DIR), "--show-only",
                    "charts/nginx/templates/configmap.yaml", "--set", target])
    conf = yaml.safe_load(out.stdout)["data"]["nginx.conf"]
    workdir = service_tempdir("webstack-chart-nginx-")
    ports = {8080: free_port(), 8081: free_port()}
    text, _ = stack_nginx.rewrite(conf, "nginx.conf", lambda _p: None, str(workdir / "state"), ports)
    for d in stack_nginx.state_paths(text):
        Path(d).mkdir(parents=True, exist_ok=True)
        Path(d).chmod(0o777)  # workers run as nobody when the master is root
    (workdir / "nginx.conf").write_text(text)
    proc = start_process("nginx", ["nginx", "-c", str(workdir / "nginx.conf"), "-g", "daemon off;"],
                         workdir / "nginx.out")
    try:
        wait_until(lambda: port_open(ports[8080]), 30, "nginx", log=workdir / "nginx.out", alive=proc.alive)
        yield {"http": ports[8080], "status": ports[8081], "log": workdir / "nginx.out"}
    finally:
        proc.stop(timeout=10)
        upstream.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def upstream_saw(data: bytes) -> dict[str, str]:
    return {k.lower(): v for k, v in json.loads(data)["headers"].items()}


def test_health_location_answers_without_upstream(nginx: dict[str, Any]) -> None:
    resp, data = request(nginx["http"], "GET", "/nginx-health")
    assert resp.status == 200 and data == b"ok\n"


def test_request_id_kept_minted_and_returned_once(nginx: dict[str, Any]) -> None:
    resp, data = request(nginx["http"], "GET", "/api/notes", {"X-Request-ID": "abc-123"})
    assert resp.headers.get_all("X-Request-ID") == ["abc-123"], "one X-Request-ID, the caller's"
    assert upstream_saw(data)["x-request-id"] == "abc-123"
    resp, data = request(nginx["http"], "GET", "/")
    minted = resp.headers["X-Request-ID"]
    assert len(minted) == 32 and int(minted, 16) >= 0 and upstream_saw(data)["x-request-id"] == minted
    resp, data = request(nginx["http"], "GET", "/", {"X-Request-ID": "bad id <script>"})
    assert resp.headers["X-Request-ID"] != "bad id <script>" and len(resp.headers["X-Request-ID"]) == 32


def test_forwarded_headers_reach_the_app(nginx: dict[str, Any]) -> None:
    _, data = request(nginx["http"], "GET", "/x?y=1", {"Host": "webstack.example.com"})
    seen = upstream_saw(data)
    assert seen["x-forwarded-for"] == LOOPBACK and seen["x-real-ip"] == LOOPBACK
    assert seen["x-forwarded-proto"] == "http" and seen["x-forwarded-host"] == "webstack.example.com"
    assert json.loads(data)["path"] == "/x?y=1"


def test_security_headers_and_no_version(nginx: dict[str, Any]) -> None:
    resp, _ = request(nginx["http"], "GET", "/")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Server"] == "nginx", "server_tokens off hides the version"


def test_gzip_for_json(nginx: dict[str, Any]) -> None:
    resp, data = request(nginx["http"], "GET", "/api/notes", {"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(data))["path"] == "/api/notes"


def test_body_limit(nginx: dict[str, Any]) -> None:
    resp, _ = request(nginx["http"], "POST", "/api/notes", {"Content-Type": "application/json"},
                      b"x" * (1024 * 1024 + 1))
    assert resp.status == 413
    resp, _ = request(nginx["http"], "POST", "/api/notes", {"Content-Type": "application/json"}, b"{}")
    assert resp.status == 200


def test_stub_status_on_the_internal_port_only(nginx: dict[str, Any]) -> None:
    resp, data = request(nginx["status"], "GET", "/stub_status")
    assert resp.status == 200 and b"Active connections" in data
    resp, data = request(nginx["http"], "GET", "/stub_status")
    assert json.loads(data)["path"] == "/stub_status", "the public port proxies it to the app instead"


def test_access_log_is_json(nginx: dict[str, Any]) -> None:
    """One JSON object per request on stdout (start_process captures it)."""
    request(nginx["http"], "GET", "/logged?q=1", {"X-Request-ID": "log-me-1"})
    wait_until(lambda: "log-me-1" in nginx["log"].read_text(), 10, "the access log line")
    entry = json.loads(next(ln for ln in nginx["log"].read_text().splitlines() if "log-me-1" in ln))
    assert entry["request_id"] == "log-me-1" and entry["status"] == 200 and entry["uri"] == "/logged?q=1"
    assert entry["method"] == "GET" and isinstance(entry["request_time"], float)


# --- the upstream is the flask Service the umbrella renders ---------------------------------------------


def _rendered(*sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    out = helm.run(["template", RELEASE, str(CHART_DIR), *args]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _upstream_and_flask_service(docs: list[dict[str, Any]]) -> tuple[str, str]:
    conf = next(d for d in docs if d["kind"] == "ConfigMap" and "nginx.conf" in d.get("data", {}))
    (server,) = [ln.split()[1] for ln in conf["data"]["nginx.conf"].splitlines()
                 if ln.strip().startswith("server ") and ln.strip().endswith(";")]
    (service,) = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"
                  and d["metadata"]["labels"]["helm.sh/chart"].startswith("flask-")]
    return server.rsplit(":", 1)[0], service


@pytest.mark.parametrize(("renames", "service"), [
    ((), f"{RELEASE}-flask"),
    (("flask.fullnameOverride=app",), "app"),
    (("flask.nameOverride=web-app", "mysql.networkPolicy.allowedApps={web-app}"), f"{RELEASE}-web-app"),
])
def test_nginx_proxies_to_the_flask_service_rendered(renames, service):
    """A chart cannot read a sibling's values: a renamed flask Service is refused until nginx.upstream.host
    names it (the message says what to set), and then the upstream is the Service the chart renders."""
    if renames:
        with pytest.raises(HelmError, match=rf"set nginx\.upstream\.host: {service}(\s|$)"):
            _rendered(*renames)
    fixed = (*renames, f"nginx.upstream.host={service}") if renames else ()
    assert _upstream_and_flask_service(_rendered(*fixed)) == (service, service)


def test_an_upstream_set_by_hand_is_the_users_choice():
    docs = _rendered("flask.fullnameOverride=app", "nginx.upstream.host=app.other.svc.cluster.local")
    assert _upstream_and_flask_service(docs) == ("app.other.svc.cluster.local", "app")
