"""The shared HTTP checks, through nginx, against the stack wired from the rendered chart."""

from __future__ import annotations

import pytest

from webstack import http_checks, nginx_conf
from webstack.paths import APP_DIR
from webstack.stack import Stack

pytestmark = pytest.mark.stack
CHECKS = [name for name, _ in http_checks.default_checks(1)]


def _checks(stack: Stack) -> dict[str, http_checks.Check]:
    assert stack.nginx_conf is not None
    limit = nginx_conf.body_limit(stack.nginx_conf.read_text())
    assert limit, "the rendered nginx.conf sets no client_max_body_size"
    return dict(http_checks.default_checks(limit, (APP_DIR / "VERSION").read_text().strip()))


@pytest.mark.parametrize("name", CHECKS)
def test_http_check_through_nginx(stack: Stack, name: str):
    detail = _checks(stack)[name](stack.base_url)  # raises HttpCheckFailed saying what came back
    assert detail


def test_run_checks_reports_every_check_as_a_step(stack: Stack):
    steps = http_checks.run_checks(stack.base_url, list(_checks(stack).items()))
    assert [s.name for s in steps] == CHECKS
    assert [s for s in steps if s.result != "passed"] == []


# The checks must be able to fail: the same functions against answers that are wrong.


def test_gzip_check_fails_where_nothing_compresses(stack: Stack):
    with pytest.raises(http_checks.HttpCheckFailed, match="gzip"):
        http_checks.check_gzip(stack.app_url)  # gunicorn directly: compression is nginx's job


def test_version_check_fails_on_the_wrong_version(stack: Stack):
    with pytest.raises(http_checks.HttpCheckFailed, match=r"expected app_version '0\.0\.0-nope'"):
        http_checks.check_version(stack.base_url, "0.0.0-nope")


def test_db_down_check_fails_while_the_database_is_up(stack: Stack):
    with pytest.raises(http_checks.HttpCheckFailed, match="expected HTTP 503"):
        http_checks.check_db_down(stack.base_url)


def test_body_limit_check_fails_under_the_limit(stack: Stack):
    with pytest.raises(http_checks.HttpCheckFailed, match="expected HTTP 413"):
        http_checks.check_body_limit(stack.base_url, 100)


def test_checks_fail_cleanly_when_nothing_listens():
    from webstack.servers import free_port

    with pytest.raises(http_checks.HttpCheckFailed, match="failed"):
        http_checks.check_healthz(f"http://127.0.0.1:{free_port()}")


def test_probe_counts_every_failed_request():
    import time

    from webstack.servers import free_port

    with http_checks.Probe(f"http://127.0.0.1:{free_port()}") as probe:
        while probe.total < 5:
            time.sleep(0.05)
    result = probe.result()
    assert result.total >= 5 and result.failures == result.total
    assert "ConnectionError" in result.errors[0]
