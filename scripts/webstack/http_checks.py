"""HTTP checks against a running webstack through its front door (nginx), shared by the stack tier and
the cluster tier (where containers run).

Every check is a plain function taking the base URL of the front door (nginx) and returning a short
detail string, or raising HttpCheckFailed with what was expected and what came back. `run_checks`
runs a list of them into report Steps; `Probe` hammers one URL in a thread during an upgrade or a
reload and counts what failed.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from webstack.errors import WebstackError
from webstack.report import Step

TIMEOUT = 10.0
# Headers the nginx front door must add to every response (the chart's nginx.conf sets them).
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")
# What a leaked Python or gunicorn error page looks like; none of it may reach a client.
_LEAK_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "pymysql.err",
                 "Internal Server Error</h1><p>The server encountered")


class HttpCheckFailed(WebstackError):
    """An HTTP check saw the wrong answer; the message says which URL, what was expected and what came."""


Check = Callable[[str], str]


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _describe(resp: requests.Response) -> str:
    body = resp.text[:300].replace("\n", " ")
    return f"HTTP {resp.status_code} {resp.headers.get('Content-Type', '-')}: {body!r}"


def _expect(resp: requests.Response, status: int | Sequence[int], what: str) -> requests.Response:
    wanted = (status,) if isinstance(status, int) else tuple(status)
    if resp.status_code not in wanted:
        raise HttpCheckFailed(f"{what}: {resp.request.method} {resp.url} expected HTTP "
                           f"{'/'.join(map(str, wanted))}, got {_describe(resp)}")
    return resp


def _json(resp: requests.Response, what: str) -> Any:
    if "json" not in resp.headers.get("Content-Type", ""):
        raise HttpCheckFailed(f"{what}: {resp.url} expected a JSON body, got {_describe(resp)}")
    try:
        return resp.json()
    except ValueError as exc:
        raise HttpCheckFailed(f"{what}: {resp.url} sent invalid JSON ({exc}): {_describe(resp)}") from exc


def _get(base: str, path: str, **kw: Any) -> requests.Response:
    try:
        return requests.get(_url(base, path), timeout=TIMEOUT, **kw)
    except requests.RequestException as exc:
        raise HttpCheckFailed(f"GET {_url(base, path)} failed: {exc}") from exc


def _send(method: str, base: str, path: str, **kw: Any) -> requests.Response:
    try:
        return requests.request(method, _url(base, path), timeout=TIMEOUT, **kw)
    except requests.RequestException as exc:
        raise HttpCheckFailed(f"{method} {_url(base, path)} failed: {exc}") from exc


def check_no_leak(resp: requests.Response, what: str) -> None:
    """An error answer must be clean JSON or HTML, never a stack trace or a driver message."""
    ctype = resp.headers.get("Content-Type", "")
    if "json" not in ctype and "html" not in ctype:
        raise HttpCheckFailed(f"{what}: {resp.url} answered neither JSON nor HTML: {_describe(resp)}")
    for marker in _LEAK_MARKERS:
        if marker in resp.text:
            raise HttpCheckFailed(f"{what}: {resp.url} leaks internals ({marker!r}): {_describe(resp)}")
    if "json" in ctype:
        body = _json(resp, what)
        if not isinstance(body, dict) or "error" not in body:
            raise HttpCheckFailed(f"{what}: {resp.url} error body lacks an 'error' key: {_describe(resp)}")


# --- the checks -------------------------------------------------------------------------------


def check_html_page(base: str) -> str:
    resp = _expect(_get(base, "/"), 200, "HTML page")
    if "text/html" not in resp.headers.get("Content-Type", ""):
        raise HttpCheckFailed(f"HTML page: {resp.url} expected text/html, got {_describe(resp)}")
    if "<form" not in resp.text.lower():
        raise HttpCheckFailed(f"HTML page: {resp.url} has no <form> to add a note: {_describe(resp)}")
    return f"{len(resp.content)} bytes of HTML with a form"


def check_healthz(base: str) -> str:
    _expect(_get(base, "/healthz"), 200, "liveness")
    return "200"


def check_readyz(base: str) -> str:
    _expect(_get(base, "/readyz"), 200, "readiness")
    return "200"


def version(base: str) -> dict[str, Any]:
    body = _json(_expect(_get(base, "/version"), 200, "version"), "version")
    if not isinstance(body, dict) or not {"app_version", "schema_version"} <= body.keys():
        raise HttpCheckFailed(f"version: {_url(base, '/version')} expected app_version and schema_version, "
                           f"got {body!r}")
    return body


def check_version(base: str, expected: str | None = None) -> str:
    body = version(base)
    if expected is not None and body["app_version"] != expected:
        raise HttpCheckFailed(f"version: expected app_version {expected!r}, got {body['app_version']!r}")
    return f"app {body['app_version']}, schema {body['schema_version']}"


def check_crud(base: str) -> str:
    """Create → read → list → update → delete → gone, through the JSON API."""
    title = f"smoke {uuid.uuid4().hex[:8]}"
    created = _json(_expect(_send("POST", base, "/api/notes", json={"title": title, "body": "first"}),
                            201, "create note"), "create note")
    note_id = created.get("id")
    if note_id is None or created.get("title") != title:
        raise HttpCheckFailed(f"create note: expected the note back with an id, got {created!r}")
    for key in ("body", "created_at", "updated_at"):
        if key not in created:
            raise HttpCheckFailed(f"create note: the answer lacks {key!r}: {created!r}")
    path = f"/api/notes/{note_id}"
    read = _json(_expect(_get(base, path), 200, "read note"), "read note")
    if read.get("title") != title or read.get("body") != "first":
        raise HttpCheckFailed(f"read note: expected title {title!r} body 'first', got {read!r}")
    listed = _json(_expect(_get(base, "/api/notes", params={"limit": 100}), 200, "list notes"), "list notes")
    items = listed if isinstance(listed, list) else listed.get("notes", listed.get("items", []))
    if not any(isinstance(n, dict) and n.get("id") == note_id for n in items):
        raise HttpCheckFailed(f"list notes: note {note_id} missing from {str(listed)[:300]}")
    updated = _json(_expect(_send("PUT", base, path, json={"title": title, "body": "second"}), 200,
                            "update note"), "update note")
    if updated.get("body") != "second":
        raise HttpCheckFailed(f"update note: expected body 'second', got {updated!r}")
    reread = _json(_expect(_get(base, path), 200, "read updated note"), "read updated note")
    if reread.get("body") != "second":
        raise HttpCheckFailed(f"read updated note: the update did not stick: {reread!r}")
    _expect(_send("DELETE", base, path), (200, 204), "delete note")
    gone = _expect(_get(base, path), 404, "read deleted note")
    check_no_leak(gone, "read deleted note")
    return f"note {note_id}: create, read, list, update, delete, 404 after"


def check_security_headers(base: str, required: Sequence[str] = SECURITY_HEADERS) -> str:
    """Every kind of answer (page, API, error) carries the headers, not just the happy path."""
    seen: dict[str, str] = {}
    for path, status in (("/", 200), ("/api/notes", 200), ("/api/notes/0", 404)):
        resp = _expect(_get(base, path), status, "security headers")
        missing = [h for h in required if h not in resp.headers]
        if missing:
            raise HttpCheckFailed(f"security headers: {resp.url} lacks {', '.join(missing)} "
                               f"(got {dict(resp.headers)})")
        seen = {h: resp.headers[h] for h in required}
    if seen.get("X-Content-Type-Options", "nosniff").lower() != "nosniff":
        raise HttpCheckFailed(f"security headers: X-Content-Type-Options must be nosniff, got {seen}")
    return ", ".join(f"{k}: {v}" for k, v in seen.items())


def check_request_id(base: str) -> str:
    """A client's X-Request-ID comes back unchanged; without one, the front door makes one up."""
    rid = f"smoke-{uuid.uuid4().hex}"
    resp = _expect(_get(base, "/healthz", headers={"X-Request-ID": rid}), 200, "request id")
    if resp.headers.get("X-Request-ID") != rid:
        raise HttpCheckFailed(f"request id: sent X-Request-ID {rid}, got back "
                           f"{resp.headers.get('X-Request-ID')!r}")
    fresh = _expect(_get(base, "/healthz"), 200, "request id").headers.get("X-Request-ID", "")
    if not fresh:
        raise HttpCheckFailed("request id: a request without X-Request-ID got none back")
    return f"echoed {rid}; generated {fresh}"


def check_body_limit(base: str, limit_bytes: int) -> str:
    """A body one byte over the limit is refused with 413 and a clean answer."""
    body = json.dumps({"title": "big", "body": "x" * limit_bytes}).encode()
    resp = _expect(_send("POST", base, "/api/notes", data=body, headers={"Content-Type": "application/json"}),
                   413, "oversized body")
    check_no_leak(resp, "oversized body")
    return f"{len(body)} bytes → 413 ({resp.headers.get('Content-Type', '-')})"


def check_gzip(base: str) -> str:
    """Compressed when asked, plain when not."""
    asked = _expect(_get(base, "/", headers={"Accept-Encoding": "gzip"}, stream=True), 200, "gzip")
    raw = asked.raw.read(decode_content=False)
    if asked.headers.get("Content-Encoding") != "gzip":
        raise HttpCheckFailed(f"gzip: GET / with Accept-Encoding: gzip came back "
                           f"{asked.headers.get('Content-Encoding') or 'uncompressed'} ({len(raw)} bytes)")
    try:
        plain_len = len(gzip.decompress(raw))
    except OSError as exc:
        raise HttpCheckFailed(f"gzip: the body is not valid gzip: {exc}") from exc
    plain = _expect(_get(base, "/", headers={"Accept-Encoding": "identity"}), 200, "gzip")
    if plain.headers.get("Content-Encoding"):
        raise HttpCheckFailed(f"gzip: identity requested, got Content-Encoding "
                           f"{plain.headers['Content-Encoding']}")
    return f"{plain_len} → {len(raw)} bytes"


def check_db_down(base: str) -> str:
    """With the database gone: liveness holds, readiness says 503, and errors stay clean."""
    _expect(_get(base, "/healthz"), 200, "liveness with the database down")
    ready = _expect(_get(base, "/readyz"), 503, "readiness with the database down")
    check_no_leak(ready, "readiness with the database down")
    answers = [f"/readyz {ready.status_code}"]
    for path in ("/api/notes", "/"):
        resp = _get(base, path)
        if resp.status_code < 500:
            raise HttpCheckFailed(f"database down: {resp.url} expected a 5xx, got {_describe(resp)}")
        check_no_leak(resp, "database down")
        answers.append(f"{path} {resp.status_code} {resp.headers.get('Content-Type', '-').split(';')[0]}")
    return "; ".join(answers)


def wait_ready(base: str, timeout: float = 60) -> float:
    """Poll /readyz until 200 (recovery after the database returns); seconds waited."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            resp = requests.get(_url(base, "/readyz"), timeout=2)
            if resp.status_code == 200:
                return time.monotonic() - started
            last = _describe(resp)
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(0.2)
    raise HttpCheckFailed(f"readiness: {_url(base, '/readyz')} not 200 within {timeout:.0f}s (last: {last})")


def default_checks(body_limit_bytes: int, expected_version: str | None = None) -> list[tuple[str, Check]]:
    """The checks both tiers run through the front door, in order."""
    return [
        ("html page", check_html_page),
        ("healthz", check_healthz),
        ("readyz", check_readyz),
        ("version", lambda b: check_version(b, expected_version)),
        ("crud round trip", check_crud),
        ("security headers", check_security_headers),
        ("request id", check_request_id),
        ("413 oversized body", lambda b: check_body_limit(b, body_limit_bytes)),
        ("gzip", check_gzip),
    ]


def run_checks(base: str, checks: Sequence[tuple[str, Check]]) -> list[Step]:
    """Run every check (one failing does not hide the others) into report Steps."""
    steps = []
    for name, check in checks:
        started = time.monotonic()
        try:
            detail, result = check(base), "passed"
        except HttpCheckFailed as exc:
            detail, result = str(exc), "failed"
        steps.append(Step(name, result, time.monotonic() - started, detail))  # type: ignore[arg-type]
    return steps


# --- continuous probe -------------------------------------------------------------------------


@dataclass
class ProbeResult:
    total: int
    failures: int
    errors: list[str]
    versions: dict[str, int]  # app_version → answers that carried it
    longest_gap: float = 0.0  # seconds between two good answers: what a user would notice

    def __str__(self) -> str:
        return (f"{self.total} requests, {self.failures} failed, longest gap {self.longest_gap:.2f}s, "
                f"versions seen {', '.join(f'{v} x{n}' for v, n in self.versions.items()) or '-'}")


@dataclass
class Probe:
    """GET one URL back to back in a thread until stopped; every non-200 or broken answer is a failure.

    The default path is /version, so the result also says which app versions answered.
    """

    base: str
    path: str = "/version"
    total: int = 0
    errors: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    longest_gap: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        # A new connection per request: a client reusing a keep-alive connection that the server
        # closes at that instant must retry (RFC 9112 §9.3.1), which would hide or fake failures.
        url = _url(self.base, self.path)
        last_ok = time.monotonic()
        while not self._stop.is_set():
            self.total += 1
            try:
                resp = requests.get(url, timeout=TIMEOUT, headers={"Connection": "close"})
                if resp.status_code != 200:
                    self.errors.append(f"HTTP {resp.status_code}")
                    continue
                now = time.monotonic()
                self.longest_gap, last_ok = max(self.longest_gap, now - last_ok), now
                if self.path == "/version":
                    v = str(resp.json().get("app_version"))
                    self.versions[v] = self.versions.get(v, 0) + 1
            except (requests.RequestException, ValueError) as exc:
                self.errors.append(type(exc).__name__ + ": " + str(exc)[:200])

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> ProbeResult:
        self._stop.set()
        if self._thread:
            self._thread.join(TIMEOUT + 5)
        return self.result()

    def result(self) -> ProbeResult:
        return ProbeResult(self.total, len(self.errors), list(self.errors[:20]), dict(self.versions),
                           self.longest_gap)
