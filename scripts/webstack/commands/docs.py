"""`webstack docs`: not built yet (see the open issues)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="(not built yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack.errors import WebstackError

    raise WebstackError("`webstack docs` is not built yet")
