"""Run every benchmark module (or those named: `python -m bench static stack`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"\n== bench {name} ==", flush=True)
        try:
            importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            print(f"bench {name} failed: {exc}", file=sys.stderr)
            failed.append(name)
        print(f"(bench {name}: {time.monotonic() - started:.0f}s)")
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


raise SystemExit(main(sys.argv[1:]))
