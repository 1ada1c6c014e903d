"""Errors a user can hit. Each carries a message that says what to do; the CLI prints it and exits 2.

Exit codes of every `webstack` command:
  0  done, nothing found
  1  findings: a check, lint, smoke step or release rule says no (the report says which)
  2  bad input or a missing/failing tool: one `error:` message naming the file and the place in it
     (line[:col] or a dotted path) and what was expected
  3  internal error (a bug): one `internal error:` line; the traceback is in the file it names
  130 interrupted (Ctrl-C, SIGTERM); 141 the reader of stdout went away (`webstack render | head`)
"""

from __future__ import annotations

BAD_INPUT = 2
INTERNAL_ERROR = 3


class WebstackError(Exception):
    """Base for every failure the CLI reports as a usage or infrastructure error (exit 2)."""

    exit_code = BAD_INPUT


class ToolchainError(WebstackError):
    """A required program (go, apt-get, helm, ...) is missing, too old, or failed to build."""


class HelmVersionError(ToolchainError):
    """The helm binary found is not a supported Helm 4 release."""


class HelmError(WebstackError):
    """helm itself failed (render, lint, install, ...); the message carries helm's own words."""


class InputError(WebstackError):
    """A file the user gave is missing or malformed; the message names the file and the place in it."""


class ClusterError(WebstackError):
    """A cluster could not be started, reached or used."""


class ImageBuildError(WebstackError):
    """A container image failed to build; names the image, the failing command and its log's tail."""

    def __init__(self, image: str, command: list[str], returncode: int, log: object, tail: str) -> None:
        self.image, self.command, self.returncode, self.log, self.tail = image, command, returncode, log, tail
        super().__init__(f"{self.summary}\n{tail}")

    @property
    def summary(self) -> str:
        """One line: the image, the command, its last log line and where the whole log is."""
        shown = " ".join(self.command)
        last = next((line.strip() for line in reversed(self.tail.splitlines()) if line.strip()), "")
        return (f"building {self.image} failed: `{shown}` exited {self.returncode}"
                f"{': ' + last if last else ''} (log: {self.log})")
