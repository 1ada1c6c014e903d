"""Stack-tier fixtures: the chart's real processes on loopback, started from a fresh render.

`stack` is shared by the read-only tests of a module; tests that stop the database, swap the app or
wipe data take `own_stack`, a stack of their own (start-up takes a few seconds).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from webstack.stack import Stack, new_root


def _start() -> Stack:
    stack = Stack(new_root())
    try:
        stack.up()
    except Exception as exc:  # a stack that cannot start is this tier failing, never a skip
        pytest.fail(f"the stack did not start from the rendered chart: {exc}", pytrace=False)
    return stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = _start()
    yield s
    s.down()


@pytest.fixture
def own_stack() -> Iterator[Stack]:
    s = _start()
    yield s
    s.down()
