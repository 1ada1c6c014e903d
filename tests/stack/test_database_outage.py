"""The database goes away and comes back: clean errors meanwhile, recovery without restarts."""

from __future__ import annotations

import pytest

from webstack import http_checks
from webstack.stack import Stack
from webstack.stack import ops as stack_ops
from webstack.stack.proc import children

pytestmark = pytest.mark.stack


def _pids(stack: Stack) -> tuple[int, list[int], int, list[int]]:
    assert stack.nginx and stack.app
    nginx, app = stack.nginx.pid, stack.app.pid
    return nginx, sorted(children(nginx)), app, sorted(children(app))


def test_database_outage_and_recovery_without_restarts(own_stack: Stack):
    s = own_stack
    http_checks.check_crud(s.base_url)
    before = _pids(s)

    stack_ops.db_stop(s)
    detail = http_checks.check_db_down(s.base_url)  # liveness 200, readiness 503, clean 5xx answers
    assert "/readyz 503" in detail

    stack_ops.db_start(s)
    http_checks.wait_ready(s.base_url, timeout=60)
    http_checks.check_crud(s.base_url)
    http_checks.check_html_page(s.base_url)
    assert _pids(s) == before, "nginx or gunicorn (master or workers) restarted to recover"
