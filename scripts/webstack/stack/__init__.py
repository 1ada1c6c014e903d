"""The stack tier: the chart's real processes on loopback, wired from one `helm template` render.

MariaDB (mysqld's config and init scripts from the mysql ConfigMaps, users and database as the
official image's entrypoint creates them) → the migration command of the hook Job → gunicorn with
the app Deployment's command, environment and mounted files → nginx with the rendered nginx.conf.

What differs from a cluster render, and nothing else:
- values: the stack values file points the nginx upstream and the app's database host at
  127.0.0.1, and their ports (free loopback ports) go into one more values file at render time;
- file paths: every mounted ConfigMap/Secret/emptyDir lives under a temporary prefix
  (<root>/<container>/fs/<path in the container>), env values and nginx paths are rewritten to it;
- listen addresses: nginx `listen` ports and GUNICORN_BIND go to 127.0.0.1 on free ports, and the
  backup/restore scripts' MYSQL_HOST/MYSQL_PORT to MariaDB's.

Processes run as the rendered runAsUser/runAsGroup when we are root (mariadbd as `mysql`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from webstack.servers import (
    LOOPBACK,
    MariaDB,
    Process,
    ServerError,
    free_port,
    port_open,
    start_process,
    wait_until,
)
from webstack.stack import nginx as stack_nginx
from webstack.stack.db import init_database, mysqld_options
from webstack.stack.proc import (
    Materialized,
    StackError,
    app_env,
    app_source,
    children,
    ids,
    open_dirs,
    program,
    run_as,
)
from webstack.stack.spec import SpecError, StackSpec, render

# Values the stack sets at render time from the free ports it picked (the stack values file holds
# the loopback hosts).
UPSTREAM_PORT_KEY = "nginx.upstream.port"
DB_PORT_KEY = "flask.database.port"
APP_TAG_KEY = "flask.image.tag"
NGINX_CONF = "/etc/nginx/nginx.conf"



# --- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """One running stack under `root`. up() starts everything or nothing; down() is idempotent."""

    root: Path
    values: list[Path] = field(default_factory=list)
    sets: dict[str, object] = field(default_factory=dict)  # extra values by dotted key
    keep: bool = False  # leave the files behind on down() (for debugging)
    spec: StackSpec | None = None
    db: MariaDB | None = None
    app: Process | None = None
    nginx: Process | None = None
    app_port: int = 0
    nginx_ports: dict[int, int] = field(default_factory=dict)
    nginx_conf: Path | None = None
    conf_changes: list[str] = field(default_factory=list)
    mysqld_skipped: list[str] = field(default_factory=list)
    _pinned: dict[str, object] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.front_port}"

    @property
    def front_port(self) -> int:
        """The free port that stands in for the nginx container's `http` port."""
        assert self.spec is not None
        http = self.spec.nginx.ports.get("http") or next(iter(self.spec.nginx.ports.values()), None)
        if http is None or http not in self.nginx_ports:
            raise StackError(f"{self.spec.nginx.owner}: no container port 'http' that nginx.conf listens on "
                             f"(ports {self.spec.nginx.ports}, listens {list(self.nginx_ports)})")
        return self.nginx_ports[http]

    @property
    def app_url(self) -> str:
        return f"http://{LOOPBACK}:{self.app_port}"

    def render(self, app_port: int, app_version: str | None = None,
               extra: dict[str, object] | None = None) -> StackSpec:
        """Render with the upstream and database ports; later renders reuse the first one's
        generated passwords, as the chart's lookup of the existing Secret does on an upgrade."""
        assert self.db is not None
        sets: dict[str, object] = {UPSTREAM_PORT_KEY: app_port, DB_PORT_KEY: self.db.port, **self.sets,
                **self._pinned, **(extra or {})}
        if app_version:
            sets[APP_TAG_KEY] = app_version
        spec = StackSpec.from_manifests(render(self.values, sets, self.root / "render"))
        if not self._pinned:
            self._pinned = generated_passwords(spec)
        return spec

    def free_app_port(self) -> int:
        return free_port()

    def up(self, timeout: float = 120) -> Stack:
        """Start everything, or nothing: a failure stops what started and removes the files.

        A free port can be taken by someone else between our pick and the server's bind (other test
        sessions share the machine); that one failure is retried once with new ports.
        """
        try:
            return self._up(timeout)
        except ServerError as exc:
            if "in use" not in str(exc) and "Bind on TCP/IP port" not in str(exc):
                raise
        self.spec = self.db = self.app = self.nginx = None
        self.nginx_ports, self._pinned = {}, {}
        return self._up(timeout)

    def _up(self, timeout: float) -> Stack:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o755)
            self.logs.mkdir(exist_ok=True)
            self.db = MariaDB(self.root / "db", port=free_port())
            self.app_port = free_port()
            self.spec = self.render(self.app_port)
            self._start_db()
            self.migrate(self.spec)
            self.app = self.start_app(self.spec, self.app_port)
            self._start_nginx()
            wait_until(lambda: _status(self.base_url + "/readyz") == 200, timeout,
                       f"the stack through nginx at {self.base_url}/readyz",
                       log=self.nginx.log if self.nginx else None)
        except BaseException:
            self.down()
            raise
        return self

    def _start_db(self) -> None:
        assert self.spec and self.db
        mysql = self.spec.mysql
        mat = Materialized(mysql, self.root / "mysql")
        mat.write(None, None)  # read by us (the entrypoint's role), not by mariadbd
        self.db.extra_config, self.mysqld_skipped = mysqld_options(mysql)
        self.db.start()
        init_database(self.db, mysql, mat, self.logs / "initdb.log")

    def migrate(self, spec: StackSpec) -> None:
        """The hook Job's command with its env and files, as its user."""
        job = spec.migrate
        mat = Materialized(job, self.root / f"{job.name}-job")
        uid, gid = ids(job)
        mat.write(uid, gid)
        cmd = [program(job.command[0]), *job.command[1:]]
        rc, out = run_as(cmd, self.logs / "migrate.log", uid, gid, env=app_env(mat), cwd=app_source())
        if rc != 0:
            raise StackError(f"migration `{' '.join(job.command)}` ({job.owner}) exited {rc}:\n{out}")

    def start_app(self, spec: StackSpec, port: int, timeout: float = 60) -> Process:
        """gunicorn with the Deployment's command and env on 127.0.0.1:<port>, once /healthz is 200."""
        app = spec.app
        mat = Materialized(app, self.root / f"{app.name}-{port}")
        uid, gid = ids(app)
        mat.write(uid, gid)
        cmd = [program(app.command[0]), *app.command[1:]]
        proc = start_process(f"gunicorn:{port}", cmd, self.logs / f"gunicorn-{port}.log",
                             env=app_env(mat, f"{LOOPBACK}:{port}"), cwd=app_source(), user=uid, group=gid)
        try:
            wait_until(lambda: _status(f"http://{LOOPBACK}:{port}/healthz") == 200, timeout,
                       f"gunicorn on {LOOPBACK}:{port}", log=proc.log, alive=proc.alive)
        except BaseException:
            proc.stop()
            raise
        return proc

    def write_nginx(self, spec: StackSpec) -> Path:
        """Materialise nginx's mounts with every *.conf rewritten; returns the main config's path."""
        nginx = spec.nginx
        if NGINX_CONF not in nginx.files:
            raise SpecError(f"{nginx.owner}: no ConfigMap is mounted at {NGINX_CONF} "
                            f"(mounted files: {', '.join(sorted(nginx.files)) or 'none'})")
        mat = Materialized(nginx, self.root / "nginx")
        uid, gid = ids(nginx)
        state = self.root / "nginx" / "state"
        if not self.nginx_ports:
            for text in (v.decode() for p, v in nginx.files.items() if p.endswith(".conf")):
                for port in stack_nginx.listen_ports(text):
                    self.nginx_ports.setdefault(port, free_port())
        rewritten: dict[str, bytes] = {}
        changes: list[str] = []
        for path, content in nginx.files.items():
            if path.endswith(".conf"):
                text, ch = stack_nginx.rewrite(content.decode(), f"{nginx.owner} {path}", mat.host_path,
                                               str(state), self.nginx_ports)
                rewritten[path] = text.encode()
                changes += [f"{path}: {c}" for c in ch]
        # The rendered spec keeps the ConfigMap's text; only the copy written here is rewritten.
        mat = Materialized(dataclasses.replace(nginx, files={**nginx.files, **rewritten}), mat.dest)
        mat.write(uid, gid)
        for text in rewritten.values():
            for d in stack_nginx.state_paths(text.decode()):
                Path(d).mkdir(parents=True, exist_ok=True)
                if uid is not None:
                    os.chown(d, uid, gid if gid is not None else -1)
        state.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            os.chown(state, uid, gid if gid is not None else -1)
        open_dirs(self.root / "nginx")
        self.conf_changes = changes
        conf = Path(mat.host_path(NGINX_CONF) or "")
        self._nginx_test(conf, uid, gid)
        return conf

    def _nginx_test(self, conf: Path, uid: int | None, gid: int | None) -> None:
        cmd = ["nginx", "-t", "-q", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]
        rc, out = run_as(cmd, self.logs / "nginx-test.log", uid, gid)
        if rc != 0:
            raise StackError(f"nginx -t rejects the rendered configuration ({conf}):\n{out}")

    def _start_nginx(self) -> None:
        assert self.spec
        self.nginx_conf = self.write_nginx(self.spec)
        uid, gid = ids(self.spec.nginx)
        cmd = ["nginx", "-p", str(self.nginx_conf.parent), "-c", str(self.nginx_conf), "-e", "stderr"]
        if "daemon off" not in self.nginx_conf.read_text():
            cmd += ["-g", "daemon off;"]
        self.nginx = start_process("nginx", cmd, self.logs / "nginx.log", user=uid, group=gid)
        wait_until(lambda: port_open(self.front_port), 30, f"nginx on {LOOPBACK}:{self.front_port}",
                   log=self.nginx.log, alive=self.nginx.alive)

    def reload_nginx(self, spec: StackSpec | None = None, timeout: float = 30) -> None:
        """Write the configuration (of `spec`, else the current one) and reload gracefully (SIGHUP);
        returns when every worker from before the reload has exited."""
        assert self.nginx and self.spec
        if spec is not None:
            self.write_nginx(spec)
        old = set(children(self.nginx.pid))
        self.nginx.popen.send_signal(signal.SIGHUP)
        master = self.nginx

        def reloaded() -> bool:
            now = set(children(master.pid))
            return bool(now) and not old & now

        wait_until(reloaded, timeout, "nginx reload (old workers to finish)", log=master.log,
                   alive=master.alive)

    def down(self) -> None:
        for proc in (self.nginx, self.app):
            if proc:
                proc.stop()
        if self.db:
            self.db.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def processes(self) -> dict[str, int]:
        out = {}
        for name, proc in (("nginx", self.nginx), ("gunicorn", self.app),
                           ("mariadb", self.db.process if self.db else None)):
            if proc and proc.alive():
                out[name] = proc.pid
        return out

    def state(self) -> dict[str, Any]:
        """What `stack down` in another shell needs, and what a developer wants to see."""
        return {"supervisor_pid": os.getpid(), "root": str(self.root), "url": self.base_url,
                "app_url": self.app_url, "db_port": self.db.port if self.db else None,
                "nginx_ports": {str(k): v for k, v in self.nginx_ports.items()}, "pids": self.processes()}


def generated_passwords(spec: StackSpec) -> dict[str, object]:
    """Values that keep the mysql Secret's passwords across renders (the chart generates them
    when unset; in a cluster its lookup finds the existing Secret, here we hand them back)."""
    for m in spec.render.workloads(("Secret",)):
        data = spec.render.data("Secret", m.name, "the stack")
        if {"mysql-root-password", "mysql-password"} <= data.keys():
            return {"mysql.auth.rootPassword": data["mysql-root-password"].decode(),
                    "mysql.auth.password": data["mysql-password"].decode()}
    return {}


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=3).status_code
    except requests.RequestException:
        return 0


def new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="webstack-stack-"))


@contextlib.contextmanager
def running(values: list[Path] | None = None, sets: dict[str, object] | None = None, keep: bool = False):
    """A stack for the length of a with-block."""
    stack = Stack(new_root(), list(values or []), dict(sets or {}), keep=keep)
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


# --- state file for `stack down` from another shell ------------------------------------------------


def write_state(path: Path, stack: Stack) -> None:
    from webstack.outputs import write_file

    write_file(path, json.dumps(stack.state(), indent=2) + "\n")


def stop_from_state(path: Path, timeout: float = 60) -> str:
    """Stop the stack a state file describes: ask its `stack up` to tear down (SIGTERM), or, if that
    process is gone, stop the recorded processes and remove the files ourselves."""
    from webstack.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no stack state file (is a `webstack stack up` running?)")
    try:
        state = json.loads(path.read_text())
        sup, root, pids = int(state["supervisor_pid"]), Path(state["root"]), dict(state["pids"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a stack state file: expected JSON with supervisor_pid, root and "
                         f"pids ({exc})") from exc
    if _cmdline(sup).find("webstack") != -1:
        os.kill(sup, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _cmdline(sup):
            time.sleep(0.2)
        if not _cmdline(sup):
            path.unlink(missing_ok=True)
            return f"stopped `stack up` (pid {sup})"
        raise StackError(f"`stack up` (pid {sup}) did not stop within {timeout:.0f}s")
    stopped: list[str] = []
    signalled: list[int] = []
    expected = {"nginx": "nginx", "gunicorn": "gunicorn", "mariadb": "mariadbd"}
    for name, pid in pids.items():
        cmdline = _cmdline(int(pid))
        if expected.get(name, name) in cmdline and str(root) in cmdline + _environ(int(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
                stopped.append(f"{name} ({pid})")
                signalled.append(int(pid))
    deadline = time.monotonic() + timeout  # let them finish (MariaDB flushes) before the files go
    while time.monotonic() < deadline and any(_cmdline(p) for p in signalled):
        time.sleep(0.2)
    if root.name.startswith("webstack-stack-"):
        shutil.rmtree(root, ignore_errors=True)
    path.unlink(missing_ok=True)
    return f"`stack up` was gone; stopped {', '.join(stopped) or 'nothing'} and removed {root}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""

