"""The `webstack` command: one sub-command per module in webstack.commands.

Command modules import their heavy dependencies inside their functions, so `webstack --help`
and `webstack setup` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from webstack.errors import WebstackError

COMMANDS = ("setup", "render", "check", "lint", "docs", "cluster", "smoke", "stack", "package",
            "images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webstack",
        description="Render, check, lint and smoke-test the webstack Helm chart.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"webstack.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WebstackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
