"""Operations with the chart's own tools: backup → wipe → restore, app upgrade/downgrade and nginx
reload under a continuous probe through nginx (goal: zero failed requests)."""

from __future__ import annotations

import pytest
import requests

from webstack import http_checks
from webstack.paths import APP_DIR
from webstack.stack import Stack
from webstack.stack import ops as stack_ops
from webstack.stack.proc import children

pytestmark = pytest.mark.stack
CURRENT = (APP_DIR / "VERSION").read_text().strip()


def _fill(stack: Stack, n: int = 25) -> None:
    for i in range(n):
        resp = requests.post(f"{stack.base_url}/api/notes", timeout=10,
                             json={"title": f"note {i} ✓", "body": "ünïcode, 日本語 " * i})
        assert resp.status_code == 201, resp.text


def test_backup_wipe_restore_round_trip(own_stack: Stack):
    _fill(own_stack)
    rt = stack_ops.backup_wipe_restore(own_stack)
    assert rt.before["notes"][0] == 25
    assert "alembic_version" in rt.before
    assert rt.wiped == {}, "the wipe left tables behind"
    assert rt.after == rt.before  # row counts and CHECKSUM TABLE, table by table
    assert rt.dump_bytes > 0
    assert "backup: wrote" in rt.backup_output and "restore: loaded" in rt.restore_output
    # The app serves the restored data without a restart.
    notes = requests.get(f"{own_stack.base_url}/api/notes", params={"limit": 100}, timeout=10).json()
    items = notes if isinstance(notes, list) else notes.get("notes", notes.get("items"))
    assert len(items) == 25


def test_upgrade_and_downgrade_under_probe_lose_no_request(own_stack: Stack):
    s = own_stack
    assert s.nginx and s.app
    nginx_pid, first_app = s.nginx.pid, s.app.pid

    up = stack_ops.upgrade_under_probe(s, "1.0.1-stack")
    assert up.failures == 0, f"upgrade: {up}; first errors: {up.errors}"
    assert up.versions.get(CURRENT) and up.versions.get("1.0.1-stack"), up
    http_checks.check_version(s.base_url, "1.0.1-stack")
    assert s.app.pid != first_app and not children(first_app)

    down = stack_ops.upgrade_under_probe(s, CURRENT)
    assert down.failures == 0, f"downgrade: {down}; first errors: {down.errors}"
    assert down.versions.get(CURRENT) and down.versions.get("1.0.1-stack"), down
    http_checks.check_version(s.base_url, CURRENT)
    assert s.nginx.pid == nginx_pid  # nginx reloaded, never restarted
    http_checks.check_crud(s.base_url)


def test_nginx_reload_under_probe_loses_no_request(own_stack: Stack):
    s = own_stack
    assert s.nginx
    master, workers = s.nginx.pid, set(children(s.nginx.pid))
    result = stack_ops.reload_under_probe(s)
    assert result.failures == 0, f"reload: {result}; first errors: {result.errors}"
    assert result.total > 10
    assert s.nginx.pid == master and not workers & set(children(master)), "the workers were not replaced"
