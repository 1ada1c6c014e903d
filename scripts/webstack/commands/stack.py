"""`webstack stack up|down`: the chart's real processes (MariaDB, gunicorn, nginx) on loopback.

`up` renders the chart, starts everything, prints the URLs, writes a state file and stays in the
foreground until Ctrl-C or SIGTERM, then tears everything down. `down` (from another shell) reads
the state file and asks that `up` to stop; if `up` died without cleaning up, `down` stops the
processes it recorded and removes the temporary files itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _default_state() -> Path:
    from webstack.paths import cache_dir

    return cache_dir() / "stack" / "state.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stack", help="run nginx → gunicorn → MariaDB from the rendered chart on loopback",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the stack and keep it running until Ctrl-C (or `stack down`)")
    up.add_argument("--values", "-f", action="append", type=Path, default=[], metavar="FILE",
                    help="extra values file, layered over the stack values file (repeatable)")
    up.add_argument("--state", type=Path, default=None, help="state file (default: <cache>/stack/state.json)")
    up.add_argument("--smoke", action="store_true",
                    help="run the HTTP smoke checks once it is up (exit 1 and stop if one fails)")
    up.add_argument("--keep", action="store_true", help="keep the temporary files after stopping (debugging)")
    down = actions.add_parser("down", help="stop the stack a running `stack up` started")
    down.add_argument("--state", type=Path, default=None,
                      help="state file (default: <cache>/stack/state.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    state = args.state or _default_state()
    return _up(args, state) if args.action == "up" else _down(state)


def _down(state: Path) -> int:
    from webstack.stack import stop_from_state

    print(stop_from_state(state))
    return 0


def _up(args: argparse.Namespace, state: Path) -> int:
    import signal
    import sys
    import threading

    from webstack import http_checks, nginx_conf, outputs, report, values
    from webstack.errors import InputError
    from webstack.servers import log_tail
    from webstack.stack import Stack, StackError, new_root, write_state

    if state.exists():
        raise InputError(f"{state}: a stack state file already exists; run `webstack stack down"
                         f"{'' if args.state is None else f' --state {state}'}` first (or delete it if no "
                         "stack is running)")
    outputs.check_file(state, force=False)  # before anything starts
    for v in args.values:
        values.load(v)  # missing, a folder, not UTF-8, bad YAML: one clear error before anything starts
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = Stack(new_root(), list(args.values), keep=args.keep)
    try:
        stack.up()
        write_state(state, stack)
        print(f"webstack stack is up: {stack.base_url} (nginx) → {stack.app_url} (gunicorn) → "
              f"127.0.0.1:{stack.db.port if stack.db else '?'} (MariaDB)")
        print(f"files and logs: {stack.root}/logs; state: {state}")
        print("Ctrl-C or `webstack stack down` stops it.", flush=True)
        if args.smoke:
            assert stack.spec and stack.nginx_conf
            limit = nginx_conf.body_limit(stack.nginx_conf.read_text()) or 1024 * 1024
            steps = http_checks.run_checks(stack.base_url, http_checks.default_checks(limit))
            report.steps_text(steps, title="stack smoke checks")
            if any(s.result == "failed" for s in steps):
                print("smoke checks failed (see the table); stopping the stack", file=sys.stderr)
                return 1
        while not stop.wait(0.5):
            for p in (stack.nginx, stack.app, stack.db.process if stack.db else None):
                if p and not p.alive():
                    raise StackError(f"{p.name} exited ({p.popen.returncode}); its log ends:\n"
                                     f"{log_tail(p.log)}")
    except KeyboardInterrupt:
        pass
    finally:
        stack.down()
        state.unlink(missing_ok=True)
        print("webstack stack is down", file=sys.stderr)
    return 0
