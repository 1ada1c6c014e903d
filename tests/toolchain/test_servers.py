"""Local servers: a MariaDB placed where its system user cannot reach says so before starting."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from webstack.servers import MariaDB, ServerError, service_tempdir, service_user

pytestmark = pytest.mark.toolchain


def test_unreachable_workdir_is_a_clear_error():
    if service_user("mysql") is None:
        pytest.fail("needs root and the `mysql` user (make setup installs mariadb-server)", pytrace=False)
    private = Path(tempfile.mkdtemp(prefix="webstack-private-"))  # 0700, root's
    try:
        with pytest.raises(ServerError, match=rf"cannot reach .*: {private} is not traversable"):
            MariaDB(private / "server").start()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_service_tempdir_is_traversable_by_others():
    path = service_tempdir("webstack-shared-")
    try:
        assert os.stat(path).st_mode & 0o005 == 0o005
    finally:
        path.rmdir()
