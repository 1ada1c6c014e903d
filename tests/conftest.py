"""Fixtures shared by every tier. Servers are real, on free loopback ports, and stopped afterwards.

A tier whose prerequisites are missing fails loudly (never skips): deselect it explicitly
(`-m "not cluster"`, or run another `make test-*` target) if you mean not to run it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from webstack.servers import MariaDB, service_tempdir

TIERS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test carries its tier's marker (the folder under tests/), so `-m "not node"` works."""
    registered = {line.split(":")[0] for line in config.getini("markers")}
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TIERS).parts
        if len(parts) > 1 and parts[0] in registered:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """One real MariaDB server for the session (root without password on 127.0.0.1:<free port>)."""
    workdir = service_tempdir("webstack-mariadb-")
    server = MariaDB(workdir / "server")
    try:
        server.start()
    except Exception as exc:  # a missing server is a failure of the tier, not a skip
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"MariaDB could not start, so this tier cannot run: {exc}", pytrace=False)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def repo_root() -> Path:
    from webstack.paths import REPO_ROOT

    return REPO_ROOT
