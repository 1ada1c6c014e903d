"""`webstack setup`: build and cache the pinned toolchain, install missing apt packages."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="provision the pinned toolchain (idempotent; cached per version)")
    p.add_argument("tools", nargs="*", help="only these Go tools (default: all)")
    p.add_argument("--no-apt", action="store_true", help="do not check or install apt packages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack import toolchain
    from webstack.errors import ToolchainError

    unknown = [t for t in args.tools if t not in toolchain.TOOLS]
    if unknown:
        raise ToolchainError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(toolchain.TOOLS)}")
    toolchain.setup(args.tools or None, apt=not args.no_apt)
    return 0
