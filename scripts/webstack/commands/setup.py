"""`webstack setup`: build and cache the pinned toolchain, install missing apt packages, fetch the static
gate's CRD schemas, and link the binaries into the virtualenv."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from webstack import helm, toolchain
from webstack.errors import ToolchainError
from webstack.paths import cache_dir
from webstack.toolchain import TOOLS, GoTool


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="provision the pinned toolchain (idempotent; cached per version)")
    p.add_argument("tools", nargs="*", help="only these Go tools (default: all)")
    p.add_argument("--no-apt", action="store_true", help="do not check or install apt packages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown:
        raise ToolchainError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(TOOLS)}")
    setup(args.tools or None, apt=not args.no_apt)
    return 0


def _say(msg: str) -> None:
    print(f"setup: {msg}", file=sys.stderr, flush=True)


def link_into(bin_dir: Path, tools: Iterable[GoTool]) -> None:
    """Symlink the cached binaries into the virtualenv's bin, so Make targets and ct find them on PATH."""
    for tool in tools:
        for b in tool.binaries:
            link = bin_dir / b
            target = tool.binary(b)
            if link.is_symlink() and link.resolve() == target.resolve():
                continue
            link.unlink(missing_ok=True)
            link.symlink_to(target)


def setup(names: Iterable[str] | None = None, apt: bool = True, venv_bin: Path | None = None) -> int:
    """Provision everything; returns the number of things that had to be done (0 = nothing to do)."""
    started = time.monotonic()
    work = 0
    if apt and (missing := toolchain.missing_apt_packages()):
        toolchain.install_apt(missing)
        work += len(missing)
    wanted = [TOOLS[n] for n in (names or TOOLS)]
    todo = [t for t in wanted if not t.installed()]
    if "helm" in [t.name for t in todo] and (external := helm.helm4_on_path()):
        _say(f"using Helm 4 found on PATH: {external}")
        todo = [t for t in todo if t.name != "helm"]
        wanted = [t for t in wanted if t.name != "helm"]
    if todo:
        go = toolchain.go_binary()
        for i, tool in enumerate(todo, 1):
            _say(f"[{i}/{len(todo)}] building {tool.name} {tool.version} ({tool.why}); cached afterwards")
            toolchain.build(tool, go)
            work += 1
    if names is None:
        # Custom resource schemas (ServiceMonitor, HTTPRoute) for the static gate: fetched here so that
        # checks and tests never download.
        from webstack.checks import crds

        work += crds.ensure()
    link_into(venv_bin or Path(sys.prefix) / "bin", [t for t in wanted if t.installed()])
    elapsed = time.monotonic() - started
    # Resolve helm the way every command will, so a wrong helm fails here, not mid-test.
    using = f"; helm {helm.reported_version(helm.binary())}" if "helm" in (names or TOOLS) else ""
    if work == 0:
        _say(f"nothing to do: {len(wanted)} tools cached under {cache_dir() / 'tools'}, "
             f"apt packages present{using} ({elapsed:.1f}s)")
    else:
        _say(f"done: {work} step(s) in {elapsed:.0f}s{using}")
    return work
