"""Real local servers on loopback for the app and stack tiers: free ports, processes, MariaDB.

Every server gets a free 127.0.0.1 port and a private working folder, logs to a file there, and
is stopped (SIGTERM, then SIGKILL) by whoever started it. Nothing is left listening.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from webstack.errors import WebstackError

LOOPBACK = "127.0.0.1"


class ServerError(WebstackError):
    """A local server did not start or stop; the message carries the tail of its log."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               log: Path | None = None, alive: Callable[[], bool] | None = None) -> None:
    """Poll `predicate` until true; on timeout (or the process dying) raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if alive is not None and not alive():
            raise ServerError(f"{what}: the process exited before it was ready\n{log_tail(log)}")
        time.sleep(0.1)
    raise ServerError(f"{what}: not ready within {timeout:.0f}s\n{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def service_tempdir(prefix: str) -> Path:
    """A new temporary folder that a server dropping to a system user (mysql, nobody) can reach.

    mkdtemp's and pytest's folders are 0700 and root's: a server below them cannot open its files.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def _blocked_ancestor(path: Path, user: str) -> Path | None:
    """The first folder above `path` that `user` cannot traverse (owner or others' execute bit)."""
    uid = pwd.getpwnam(user).pw_uid
    for folder in path.resolve().parents:
        st = folder.stat()
        if not (st.st_mode & stat.S_IXOTH or (st.st_uid == uid and st.st_mode & stat.S_IXUSR)):
            return folder
    return None


def service_user(name: str) -> str | None:
    """Run as this system user when we are root (servers refuse root, and tests check the user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return name


@dataclass
class Process:
    """A started server process; stop() is idempotent."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def start_process(name: str, cmd: Sequence[str], log: Path, *, env: dict[str, str] | None = None,
                  cwd: Path | None = None, user: str | int | None = None,
                  group: int | None = None) -> Process:
    """Start `cmd` in its own session, output appended to `log`.

    With `group` (a gid, like a pod's runAsGroup) the supplementary groups are dropped too, so the
    process holds exactly the ids it was given; the log is handed to that user so it can reopen it
    (nginx writes to /dev/stdout by path).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if user is not None and group is not None:
        os.chown(log, pwd.getpwnam(user).pw_uid if isinstance(user, str) else user, group)
    extra = {"group": group, "extra_groups": []} if group is not None else {}
    with log.open("ab") as out:
        popen = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                 user=user, start_new_session=True, **extra)
    return Process(name, popen, log)


def _mariadb_program(*names: str) -> str:
    for n in names:
        for d in ("", "/usr/sbin/", "/usr/bin/"):
            path = shutil.which(n) if not d else (d + n if os.access(d + n, os.X_OK) else None)
            if path:
                return path
    raise ServerError(
        f"none of {', '.join(names)} found: MariaDB is needed as the MySQL-compatible server for local "
        "tests. Run `make setup` (installs mariadb-server) or `apt-get install mariadb-server`."
    )


@dataclass
class MariaDB:
    """A throw-away MariaDB server: temporary data folder, 127.0.0.1 on a free port, root without password.

    `extra_config` lines go into the [mysqld] section of a private my.cnf (the stack tier passes the
    chart's rendered my.cnf there).
    """

    workdir: Path
    port: int = 0
    extra_config: str = ""
    process: Process | None = field(default=None, init=False)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket(self) -> Path:
        return self.workdir / "mysqld.sock"

    @property
    def config(self) -> Path:
        return self.workdir / "my.cnf"

    @property
    def log(self) -> Path:
        return self.workdir / "mysqld.log"

    def url(self, user: str = "root", password: str = "", database: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"mysql+pymysql://{auth}@{LOOPBACK}:{self.port}/{database}"

    def start(self, timeout: float = 60) -> MariaDB:
        self.workdir.mkdir(parents=True, exist_ok=True)
        user = service_user("mysql")
        if not self.port:
            self.port = free_port()
        fresh = not (self.datadir / "mysql").exists()
        self.config.write_text(
            "[mysqld]\n"
            f"datadir={self.datadir}\nport={self.port}\nbind-address={LOOPBACK}\n"
            f"socket={self.socket}\npid-file={self.workdir / 'mysqld.pid'}\nlog-error={self.log}\n"
            "skip-name-resolve\n"
            f"{self.extra_config}\n"
        )
        if user:  # the server drops to `mysql`; it must reach and own its files
            if blocked := _blocked_ancestor(self.workdir, user):
                raise ServerError(
                    f"MariaDB runs as `{user}`, which cannot reach {self.workdir}: {blocked} is not "
                    "traversable. Put the server under webstack.servers.service_tempdir()."
                )
            self.workdir.chmod(0o755)
            shutil.chown(self.workdir, user, user)
        if fresh:
            install = [_mariadb_program("mariadb-install-db", "mysql_install_db"),
                       f"--defaults-file={self.config}", "--auth-root-authentication-method=normal",
                       "--skip-test-db"]
            if user:
                install.append(f"--user={user}")
            res = subprocess.run(install, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise ServerError(f"mariadb-install-db failed in {self.datadir}:\n{res.stdout}{res.stderr}")
        cmd = [_mariadb_program("mariadbd", "mysqld"), f"--defaults-file={self.config}"]
        if user:
            cmd.append(f"--user={user}")
        self.process = start_process("mariadb", cmd, self.workdir / "mariadbd.out")
        wait_until(lambda: port_open(self.port), timeout, f"MariaDB on {LOOPBACK}:{self.port}",
                   log=self.log, alive=self.process.alive)
        # Reachable as root over TCP from 127.0.0.1, like an application would connect.
        self.sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
                 "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;", via_socket=True)
        return self

    def sql(self, statements: str, database: str = "", via_socket: bool = False) -> str:
        """Run SQL with the mariadb client as root; returns tab-separated output."""
        client = _mariadb_program("mariadb", "mysql")
        where = [f"--socket={self.socket}"] if via_socket else [f"--host={LOOPBACK}", f"--port={self.port}"]
        cmd = [client, "--no-defaults", "--user=root", "--batch", "--skip-column-names", *where]
        if database:
            cmd.append(database)
        res = subprocess.run(cmd, input=statements, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise ServerError(f"SQL failed on MariaDB :{self.port}: {res.stderr.strip()}")
        return res.stdout

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


@contextlib.contextmanager
def mariadb(workdir: Path, extra_config: str = "") -> Iterator[MariaDB]:
    server = MariaDB(workdir, extra_config=extra_config)
    try:
        yield server.start()
    finally:
        server.stop()
