"""The `webstack` command: one sub-command per module in webstack.commands.

Command modules import their heavy dependencies inside their functions, so `webstack --help`
and `webstack setup` stay fast. Exit codes are listed in webstack.errors; no traceback reaches the
user: an unexpected exception is one line, and its traceback goes to a file it names.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from webstack.errors import BAD_INPUT, INTERNAL_ERROR, WebstackError

COMMANDS = ("setup", "render", "check", "validate", "lint", "docs", "cluster", "smoke", "stack",
            "package", "images")


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
    try:
        args = build_parser().parse_args(argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away shows up here, not as noise at exit
        return code
    except WebstackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `webstack render | head`: the reader has all it wanted; say nothing, not even at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a killed writer
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return BAD_INPUT
    except Exception as exc:
        first = next(iter(str(exc).splitlines()), "")
        print(f"internal error: {type(exc).__name__}: {first} ({_save_traceback(exc, argv)})",
              file=sys.stderr)
        return INTERNAL_ERROR


def _save_traceback(exc: BaseException, argv: Sequence[str] | None) -> str:
    """`details in <file>`: the traceback in a new file under the user's cache, else the temporary folder."""
    from webstack.paths import cache_dir

    text = f"webstack {' '.join(sys.argv[1:] if argv is None else argv)}\n\n"
    text += "".join(traceback.format_exception(exc))
    for folder in (cache_dir() / "internal-errors", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="webstack-internal-error-", suffix=".txt", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return f"details in {name}"
        except OSError:
            continue
    return "no details saved: neither the cache nor the temporary folder is writable"


if __name__ == "__main__":
    raise SystemExit(main())
