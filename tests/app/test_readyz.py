"""/readyz follows the database: 503 while it is stopped, 200 once it is back, same app process."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_readyz_recovers_without_restarting_the_app(client, mariadb_server):
    # Warm the pool so the app holds connections that the restart will break.
    assert client.get("/readyz").status_code == 200
    assert client.post("/api/notes", json={"title": "before the outage"}).status_code == 201
    mariadb_server.stop()
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.get_json() == {"status": "unavailable", "error": "database unreachable", "field": None}
        assert client.get("/healthz").status_code == 200  # liveness unaffected: no restart loop
        assert client.get("/api/notes").status_code == 503
    finally:
        mariadb_server.start()
    assert client.get("/readyz").status_code == 200  # stale pooled connections are pre-pinged away
    titles = [n["title"] for n in client.get("/api/notes").get_json()["notes"]]
    assert "before the outage" in titles
