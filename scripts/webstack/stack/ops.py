"""Operations on a running stack, the way the chart does them: backup and restore with the chart's
own scripts (backup CronJob, restore hook Job), an app upgrade/downgrade behind nginx, an nginx
reload, and the database going away and coming back."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from webstack.http_checks import Probe, ProbeResult
from webstack.stack import Stack
from webstack.stack.proc import Materialized, StackError, children, ids, program
from webstack.stack.spec import Container, StackSpec

# The backup CronJob and restore Job exist only when enabled; the operations render with both on.
OPS_SETS: dict[str, object] = {"mysql.backup.enabled": True, "mysql.restore.enabled": True}


def ops_spec(stack: Stack) -> StackSpec:
    """The same release rendered with the backup CronJob and the restore Job switched on."""
    spec = stack.render(stack.app_port, extra=OPS_SETS)
    if spec.backup is None or spec.restore is None:
        raise StackError(f"the render with {OPS_SETS} has no backup CronJob or restore Job")
    return spec


def run_job(stack: Stack, job: Container, args: list[str] | None = None, timeout: float = 300) -> str:
    """Run a Job/CronJob container's command here: its files and env, the database on loopback,
    as its user. Returns the output; a non-zero exit is a StackError."""
    assert stack.db is not None
    mat = Materialized(job, stack.root / f"{job.name}-job")
    uid, gid = ids(job)
    mat.write(uid, gid)
    # The mysql image's PATH (its clients: Debian's mariadb-client here); the Service name and port
    # the scripts get from the chart → where the database listens here.
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(mat.dest),
           "LANG": "C.UTF-8", **mat.env(), "MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": str(stack.db.port)}
    cmd = [mat.host_path(job.command[0]) or program(job.command[0]), *job.command[1:], *(args or [])]
    res = subprocess.run(cmd, env=env, cwd=mat.dest, capture_output=True, text=True, timeout=timeout,
                         user=uid, group=gid, extra_groups=[] if gid is not None else None, check=False)
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0:
        raise StackError(f"{job.owner} `{' '.join(job.command)}` exited {res.returncode}:\n{out}")
    return out


def backup_dir(stack: Stack, job: Container) -> Path:
    mat = Materialized(job, stack.root / f"{job.name}-job")
    return Path(mat.host_path(job.env["BACKUP_DIR"]) or job.env["BACKUP_DIR"])


def table_sums(stack: Stack, database: str) -> dict[str, tuple[int, int]]:
    """table → (row count, CHECKSUM TABLE) for every base table of `database`."""
    assert stack.db is not None
    names = stack.db.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                         f"'{database}' AND table_type = 'BASE TABLE' ORDER BY table_name;", via_socket=True)
    out = {}
    for name in names.split():
        count = int(stack.db.sql(f"SELECT COUNT(*) FROM `{name}`;", database, via_socket=True).strip())
        checksum = stack.db.sql(f"CHECKSUM TABLE `{name}` EXTENDED;", database, via_socket=True).split()[-1]
        out[name] = (count, int(checksum))
    return out


@dataclass
class RoundTrip:
    before: dict[str, tuple[int, int]]
    wiped: dict[str, tuple[int, int]]
    after: dict[str, tuple[int, int]]
    dump: Path
    dump_bytes: int
    backup_output: str
    restore_output: str


def backup_wipe_restore(stack: Stack) -> RoundTrip:
    """Backup with backup.sh → drop and recreate the database → restore.sh → the sums to compare."""
    assert stack.db is not None and stack.spec is not None
    spec = ops_spec(stack)
    assert spec.backup and spec.restore
    database = spec.backup.env["MYSQL_DATABASE"]
    before = table_sums(stack, database)
    backup_out = run_job(stack, spec.backup)
    dumps = sorted(backup_dir(stack, spec.backup).glob(f"{database}-*.sql"))
    if not dumps:
        raise StackError(f"{spec.backup.owner} left no {database}-*.sql in "
                         f"{backup_dir(stack, spec.backup)}:\n{backup_out}")
    # The restore Job mounts the same backup volume: give it the folder the backup wrote.
    restore_dir = backup_dir(stack, spec.restore)
    restore_dir.mkdir(parents=True, exist_ok=True)
    for d in dumps:
        (restore_dir / d.name).write_bytes(d.read_bytes())
    charset = stack.db.sql(f"SELECT default_character_set_name, default_collation_name FROM "
                           f"information_schema.schemata WHERE schema_name = '{database}';",
                           via_socket=True).split()
    stack.db.sql(f"DROP DATABASE `{database}`; CREATE DATABASE `{database}` CHARACTER SET {charset[0]} "
                 f"COLLATE {charset[1]}; GRANT ALL ON `{database}`.* TO "
                 f"'{spec.mysql.env.get('MYSQL_USER', 'webstack')}'@'%';", via_socket=True)
    wiped = table_sums(stack, database)
    restore_out = run_job(stack, spec.restore)
    after = table_sums(stack, database)
    return RoundTrip(before, wiped, after, dumps[-1], dumps[-1].stat().st_size, backup_out, restore_out)


def switch_app(stack: Stack, version: str) -> None:
    """Upgrade (or downgrade) the app like a rolling update behind a Service: render with the new
    image tag, run the pre-upgrade migration, start the new gunicorn on a new port, point nginx at
    it with a graceful reload, and stop the old one once no nginx worker can still use it."""
    assert stack.app is not None
    new_port = stack.free_app_port()
    spec = stack.render(new_port, app_version=version)
    stack.migrate(spec)
    new = stack.start_app(spec, new_port)
    old = stack.app
    try:
        stack.reload_nginx(spec)
    except BaseException:
        new.stop()
        raise
    stack.app, stack.app_port, stack.spec = new, new_port, spec
    old.stop()


def upgrade_under_probe(stack: Stack, version: str, settle: float = 1.0) -> ProbeResult:
    """switch_app while a probe hits /version through nginx; the result counts failed requests."""
    with Probe(stack.base_url) as probe:
        time.sleep(settle)
        switch_app(stack, version)
        time.sleep(settle)
    return probe.result()


def reload_under_probe(stack: Stack, settle: float = 1.0) -> ProbeResult:
    """nginx re-reads the same rendered configuration (SIGHUP) while the probe runs."""
    with Probe(stack.base_url) as probe:
        time.sleep(settle)
        stack.reload_nginx()
        time.sleep(settle)
    return probe.result()


def db_stop(stack: Stack) -> None:
    assert stack.db is not None
    stack.db.stop()


def db_start(stack: Stack) -> None:
    """The same data directory, port and configuration, as a restarted pod would find them."""
    assert stack.db is not None
    stack.db.start()


def peak_rss_kb(pid: int) -> int:
    """VmHWM of a process plus its children (nginx workers, gunicorn workers), in kB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total

