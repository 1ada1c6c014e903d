"""`python -m webstack_app migrate [--revision REV] [--lock-timeout S] [--wait S]`.

The chart's migration Job runs this; exit 0 done, 1 migration failed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys

from webstack_app import config as config_mod
from webstack_app import logs
from webstack_app.config import ConfigError
from webstack_app.migrate import MigrationError, migrate

log = logging.getLogger("webstack_app.migrate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webstack_app")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="bring the database schema to the newest (or a named) revision")
    m.add_argument("--revision", default="head", help="target revision (default: head)")
    m.add_argument("--lock-timeout", type=int, default=300,
                   help="seconds to wait for a concurrent migration to finish (default: 300)")
    m.add_argument("--wait", type=int, default=60,
                   help="seconds to keep retrying while the database does not accept connections yet "
                        "(default: 60; the install-time Job may start before MySQL)")
    args = parser.parse_args(argv)
    try:
        config = config_mod.from_env()
    except ConfigError as exc:
        print(f"webstack_app: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    try:
        migrate(config, args.revision, args.lock_timeout, wait=args.wait)
    except MigrationError as exc:
        log.error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
