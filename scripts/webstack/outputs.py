"""Where the CLI writes for a user (a report file, a render folder, a report or package folder): the one
place that makes sure nothing of the user's is lost.

- A file is replaced only when webstack wrote it (its generator mark) or with --force.
- A folder is used when it is new, empty or ours (its marker file), or with --force; never a file.
- Every location is checked before the work starts, and every write is atomic, so a failure leaves
  the old output intact and no temporary file behind.
- Every refusal or OS failure is one line (InputError, exit 2) naming the path and what to do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from webstack.errors import InputError

# The generator mark every report carries, so a later run knows the file is its own to replace.
GENERATOR = "webstack"
TEXT_MARK = f"# generator: {GENERATOR}"  # the first line of a text report written to a file
XML_MARK = f"<!-- generator: {GENERATOR} -->"  # the line after a JUnit report's XML declaration
JSON_MARK = f'"generator": "{GENERATOR}"'  # the first key of a JSON report
MARKER = ".webstack-output"  # in every folder webstack writes: its contents are webstack's


def is_ours(path: Path) -> bool:
    """Whether one of the first lines of the file carries a generator mark."""
    try:
        with path.open(errors="replace") as f:
            head = [f.readline(4096).strip() for _ in range(3)]
    except OSError:
        return False
    return any(line in (TEXT_MARK, XML_MARK) or line.startswith(JSON_MARK) for line in head)


def check_file(path: Path, *, force: bool) -> None:
    """Pre-flight for one output file: its folder can be written, and an existing file is ours."""
    if path.is_dir():
        raise InputError(f"{path} is a folder: name a file to write the report to")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} exists and is not a regular file: name another file")
    if path.exists() and not force and not is_ours(path):
        raise InputError(f"{path} exists and webstack did not write it: name another file, "
                         "or pass --force to replace it")
    _check_writable(path.parent, path)


def check_dir(path: Path, *, force: bool, replaces: bool = False) -> None:
    """Pre-flight for an output folder: new, empty or ours (else --force), never a file.

    `replaces`: the folder's old contents are deleted (render), not added to (smoke, package).
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file, not a folder: choose a new or empty folder")
    here, target = Path.cwd().resolve(), path.resolve()
    if replaces and (target == here or target in here.parents or target == Path.home()):
        raise InputError(f"{path} holds the current folder or is the home folder: it is never replaced, "
                         "not even with --force; choose a new or empty folder")
    if path.is_dir() and not force and not (path / MARKER).exists():
        try:
            foreign = sorted(p.name for p in path.iterdir())
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            verb = "replace it (deleting what it holds)" if replaces else "write into it anyway"
            raise InputError(f"{path} holds files webstack did not write ({shown}): choose a new or "
                             f"empty folder, or pass --force to {verb}")
    _check_writable(path if path.is_dir() else path.parent, path)


def write_file(path: Path, text: str) -> None:
    """Write the file atomically: a unique temporary file next to it, renamed over it; a reader never
    sees half of it, and a failure leaves the old file and no temporary file."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # as an ordinary new file, not mkstemp's 0600
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _failed(path, exc) from exc
        raise


def open_dir(path: Path) -> None:
    """Create the output folder (and its parents) if need be and mark it as webstack's (so a folder
    used once with --force is webstack's from then on)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).touch()
    except OSError as exc:
        raise _failed(path, exc) from exc


def temp_dir_beside(path: Path) -> Path:
    """A unique temporary folder next to `path` (same file system, so a rename is atomic); the caller
    removes it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise _failed(path, exc) from exc


def replace_dir(path: Path, fill: Callable[[Path], None], *, force: bool) -> None:
    """Build a whole tree with fill(folder), then swap it in for `path` at once.

    The old tree goes only when check_dir allows it; on any failure the temporary folder goes and the
    old tree stays where it was.
    """
    path = path.resolve()  # `--output .` has no name to put a temporary folder beside
    check_dir(path, force=force, replaces=True)
    stage = temp_dir_beside(path)
    new, old = stage / "new", stage / "old"
    swapped = False
    try:
        new.mkdir()
        fill(new)
        (new / MARKER).touch()
        if path.is_dir():
            os.rename(path, old)
        try:
            os.rename(new, path)
            swapped = True
        finally:
            if not swapped and old.is_dir():
                os.rename(old, path)  # put the old tree back
    except OSError as exc:
        raise _failed(path, exc) from exc
    finally:
        if swapped or not old.exists():  # an old tree that could not be put back is never deleted
            shutil.rmtree(stage, ignore_errors=True)


def _check_writable(folder: Path, path: Path) -> None:
    """The nearest existing folder at or above `folder` takes a new file (a probe: as root, access(2)
    says yes even where nothing can be created, e.g. /proc)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{path}: {existing} is a file, not a folder: choose another location")
    try:
        fd, probe = tempfile.mkstemp(prefix=".webstack-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {existing}: {exc.strerror or exc}") from exc


def _failed(path: Path, exc: OSError) -> InputError:
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return InputError(f"cannot write {path}: {exc.strerror or exc}{where}")


def _umask() -> int:
    """The process umask: reading it means setting it, so it is set straight back."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
