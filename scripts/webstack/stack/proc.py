"""Files, users and processes for the stack tier: a container's mounts written under a folder, the
ids it runs as, the app runtime (python and gunicorn), and running commands as another user."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from webstack.errors import WebstackError
from webstack.paths import APP_DIR
from webstack.stack.spec import Container


class StackError(WebstackError):
    """The stack could not start, or a step on it failed; the message carries the process log's tail."""


@dataclass
class Materialized:
    """A container's mounts written under <dest>/fs, and the mapping from container paths to it."""

    container: Container
    dest: Path

    def host_path(self, path: str) -> str | None:
        """Where a container path lives here, if it is under (or is) one of the mounts."""
        for mount in sorted(self.container.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return str(self.dest / "fs" / path.lstrip("/"))
        return None

    def write(self, uid: int | None, gid: int | None) -> None:
        """Files as the kubelet projects them: ConfigMaps readable, Secrets 0400 for the pod's user,
        emptyDirs writable by it."""
        for path, content in self.container.files.items():
            target = Path(self.host_path(path) or "")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(self.container.modes.get(path, 0o644))
            if path in self.container.secret_files and uid is not None:
                # the kubelet gives Secret files to the pod's fsGroup; here, to its user
                os.chown(target, uid, gid if gid is not None else -1)
        for path in self.container.empty_dirs:
            d = Path(self.host_path(path) or "")
            d.mkdir(parents=True, exist_ok=True)
            if uid is not None:
                os.chown(d, uid, gid if gid is not None else -1)
        open_dirs(self.dest)

    def env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The container's env with mount paths redirected, plus overrides."""
        env = {k: (self.host_path(v) or v) if v.startswith("/") else v for k, v in self.container.env.items()}
        env.update(overrides or {})
        return env


def open_dirs(root: Path) -> None:
    """Directories traversable by the unprivileged users the processes run as."""
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        d.chmod(d.stat().st_mode | 0o755 if d.stat().st_uid == 0 else d.stat().st_mode | 0o700)


def ids(container: Container) -> tuple[int | None, int | None]:
    """(uid, gid) to run as: the rendered runAsUser/runAsGroup when we are root, else our own."""
    if os.geteuid() != 0:
        return None, None
    return container.run_as_user, container.run_as_group


RUNTIME_ROOT = Path("/var/cache/webstack/app-runtime")
SYSTEM_PYTHON = Path("/usr/bin/python3")


def runtime_bin() -> Path:
    """Where the app's python and gunicorn come from.

    As ourselves: this virtualenv. As root (the app then runs as uid 10001, which cannot reach a
    Python under /root): a virtualenv like the image's /opt/venv, built once from the system
    Python and app/requirements.txt in a world-readable cache keyed by both.
    """
    if os.geteuid() != 0:
        return Path(sys.executable).parent
    reqs = APP_DIR / "requirements.txt"
    py = Path(os.environ.get("WEBSTACK_APP_PYTHON", str(SYSTEM_PYTHON)))
    version = subprocess.run([str(py), "-c", "import sys; print(sys.version)"], capture_output=True,
                             text=True, check=False).stdout
    key = hashlib.sha256(reqs.read_bytes() + version.encode()).hexdigest()[:12]
    venv = RUNTIME_ROOT / key
    done = venv / ".complete"  # written last: a half-built runtime is never used
    if done.exists():
        return venv / "bin"
    RUNTIME_ROOT.mkdir(parents=True, exist_ok=True)
    for d in (RUNTIME_ROOT, RUNTIME_ROOT.parent):
        d.chmod(0o755)
    with (RUNTIME_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions build it once
        if done.exists():
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        # Built in place: a venv's scripts carry its absolute path.
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r", str(reqs)]
        for cmd in ([str(py), "-m", "venv", str(venv)], pip):
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise StackError(f"building the app runtime ({' '.join(cmd)}) failed:\n"
                                 f"{res.stdout}{res.stderr}")
        open_dirs(venv)
        done.touch()
    return venv / "bin"


APP_SOURCE_ROOT = Path("/var/cache/webstack/app-source")


def app_source() -> Path:
    """The app's code as the image lays it out (/app: webstack_app/ and VERSION).

    As ourselves: app/ itself. As root: a world-readable copy keyed by content, because the
    checkout may sit in a private (0700) folder that uid 10001 cannot traverse.
    """
    if os.geteuid() != 0:
        return APP_DIR
    files = sorted(p for p in (APP_DIR / "webstack_app").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    files.append(APP_DIR / "VERSION")
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(APP_DIR)).encode() + b"\0" + f.read_bytes())
    dest = APP_SOURCE_ROOT / digest.hexdigest()[:12]
    if (dest / ".complete").exists():
        return dest
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_mkdir_open(APP_SOURCE_ROOT)))
    for f in files:
        target = staging / f.relative_to(APP_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
        target.chmod(0o644)
    open_dirs(staging)
    (staging / ".complete").touch()
    try:
        staging.rename(dest)
    except OSError:  # another session made it first
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _mkdir_open(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for d in (path, path.parent):
        d.chmod(0o755)
    return path


def program(argv0: str) -> str:
    """The host program for an image command: python and gunicorn come from the app runtime."""
    runtime = runtime_bin()
    if argv0 in ("python", "python3"):
        return str(runtime / "python")
    if (runtime / argv0).exists():
        return str(runtime / argv0)
    found = shutil.which(argv0)
    if not found:
        raise StackError(f"the rendered command needs {argv0!r}, neither in {runtime} nor on PATH")
    return found


def app_env(mat: Materialized, bind: str | None = None) -> dict[str, str]:
    """The image's ENV (PATH, PYTHONPATH=/app → app/), then the Deployment's env, then the bind address."""
    env = {
        "PATH": f"{runtime_bin()}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(app_source()),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOME": str(mat.dest),
        "LANG": "C.UTF-8",
    }
    env.update(mat.env({"GUNICORN_BIND": bind} if bind else None))
    return env


def run_as(cmd: list[str], log: Path, uid: int | None, gid: int | None, *, env: dict[str, str] | None = None,
           cwd: Path | None = None, timeout: float = 300) -> tuple[int, str]:
    """Run to completion as uid/gid, output into `log` (a file that user owns, so programs that
    reopen /dev/stdout by path, like nginx, can); returns the exit code and this run's output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if uid is not None:
        os.chown(log, uid, gid if gid is not None else -1)
    start = log.stat().st_size
    with log.open("ab") as out:
        res = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                             user=uid, group=gid, extra_groups=[] if gid is not None else None, check=False)
    with log.open("rb") as f:
        f.seek(start)
        return res.returncode, f.read().decode(errors="replace").strip()


def children(pid: int) -> list[int]:
    """Direct children of a process (nginx workers of a master), from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out
