"""nginx's knobs and escape hatches under the real nginx of the stack tier (rendered from the chart,
checked with `nginx -t` before it starts): ci/nginx-tuning-values.yaml's http and server snippets,
extra location, real client address from trusted proxies and per-client rate limit work end to end;
a snippet nginx rejects stops the stack with nginx's own words.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from webstack.paths import CHART_DIR
from webstack.servers import wait_until
from webstack.stack import Stack, new_root
from webstack.stack.proc import StackError

pytestmark = pytest.mark.stack

TUNING = CHART_DIR / "ci" / "nginx-tuning-values.yaml"
# The ci file as it is, with a rate a test can exceed in a moment (1 r/s, burst 5).
FAST_LIMIT = {"nginx.config.rateLimit.rate": "1r/s", "nginx.config.rateLimit.burst": 5}


@pytest.fixture(scope="module")
def tuned() -> Stack:
    stack = Stack(new_root(), [TUNING], dict(FAST_LIMIT))
    try:
        stack.up()
    except Exception as exc:
        pytest.fail(f"the stack did not start with {TUNING.name}: {exc}", pytrace=False)
    yield stack
    stack.down()


def _access_log(stack: Stack, request_id: str) -> dict:
    assert stack.nginx is not None
    log = stack.nginx.log
    wait_until(lambda: request_id in log.read_text(), 10, f"the access log line of {request_id}")
    line = next(ln for ln in log.read_text().splitlines() if request_id in ln and ln.startswith("{"))
    return json.loads(line)


def test_the_rendered_snippets_are_what_nginx_runs(tuned: Stack) -> None:
    assert tuned.nginx_conf is not None
    conf = tuned.nginx_conf.read_text()
    assert "map $http_user_agent $webstack_is_probe" in conf  # httpSnippet
    assert 'add_header X-Served-By "webstack-nginx" always;' in conf  # serverSnippet
    assert "location = /robots.txt" in conf  # extraLocations
    assert "limit_req zone=webstack_req burst=5 nodelay;" in conf
    assert "client_body_timeout 20s;" in conf and "client_header_timeout 10s;" in conf
    assert "proxy_connect_timeout 2s;" in conf and "proxy_read_timeout 30s;" in conf


def test_extra_location_and_server_snippet_answer(tuned: Stack) -> None:
    resp = requests.get(f"{tuned.base_url}/robots.txt", timeout=10)
    assert resp.status_code == 200 and resp.text == "User-agent: *\nDisallow: /\n"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["X-Served-By"] == "webstack-nginx"
    # the chart's own headers are still there beside the snippet's
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp = requests.get(f"{tuned.base_url}/healthz", timeout=10)
    assert resp.status_code == 200 and resp.headers["X-Served-By"] == "webstack-nginx"


def test_real_client_address_from_a_trusted_proxy(tuned: Stack) -> None:
    rid = f"realip-{uuid.uuid4().hex[:12]}"
    resp = requests.get(f"{tuned.base_url}/healthz", timeout=10,
                        headers={"X-Request-ID": rid, "X-Forwarded-For": "203.0.113.7, 10.1.2.3"})
    assert resp.status_code == 200
    # 127.0.0.1 and 10.0.0.0/8 are trusted: recursive real_ip skips both, the client is 203.0.113.7
    assert _access_log(tuned, rid)["remote_addr"] == "203.0.113.7"


def test_rate_limit_per_real_client_not_on_health(tuned: Stack) -> None:
    def burst(client: str) -> list[int]:
        with requests.Session() as s:
            return [s.get(f"{tuned.base_url}/healthz", timeout=10,
                          headers={"X-Forwarded-For": client}).status_code for _ in range(20)]

    codes = burst("198.51.100.10")
    assert codes[:6] == [200] * 6, codes  # the first request plus a burst of 5, at once (nodelay)
    assert 429 in codes[6:], codes  # then limit_req_status
    assert set(codes) <= {200, 429}, codes
    # another client (by its real address) has its own allowance
    assert burst("198.51.100.11")[:6] == [200] * 6
    # the probes' endpoint is never limited
    with requests.Session() as s:
        assert {s.get(f"{tuned.base_url}/nginx-health", timeout=10).status_code for _ in range(30)} == {200}


def test_defaults_leave_every_option_off() -> None:
    """Safe defaults: no real-IP trust, no rate limit, no snippet in the default render."""
    from webstack.stack.spec import render

    [cm] = [m for m in render() if m.kind == "ConfigMap" and "nginx.conf" in (m.doc.get("data") or {})]
    conf = cm.doc["data"]["nginx.conf"]
    for absent in ("set_real_ip_from", "real_ip_header", "limit_req", "config.serverSnippet",
                   "config.httpSnippet"):
        assert absent not in conf, absent
    assert "client_body_timeout 60s;" in conf and "client_header_timeout 60s;" in conf


@pytest.mark.parametrize(("sets", "nginx_says"), [
    ({"nginx.config.serverSnippet": "proxy_buffering maybe;\n"}, 'invalid value "maybe"'),
    ({"nginx.config.httpSnippet": "gzip_typo on;\n"}, 'unknown directive "gzip_typo"'),
    ({"nginx.config.extraLocations": [{"match": "/static/", "config": "root;"}]},
     'invalid number of arguments in "root" directive'),
], ids=["server-snippet", "http-snippet", "extra-location"])
def test_a_snippet_nginx_rejects_stops_the_stack_with_nginx_t_words(sets: dict, nginx_says: str) -> None:
    root = new_root()
    stack = Stack(root, [TUNING], sets)
    with pytest.raises(StackError) as err:
        stack.up()
    msg = str(err.value)
    assert "nginx -t rejects the rendered configuration" in msg
    assert nginx_says in msg and "nginx.conf" in msg
    assert not Path(root).exists(), "a failed start leaves nothing behind"
