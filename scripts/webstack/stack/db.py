"""MariaDB in the role of the official mysql image: the chart's my.cnf as server options, and what
the image's entrypoint does on an empty data directory (database, users, init scripts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from webstack.servers import MariaDB
from webstack.stack.proc import Materialized, StackError
from webstack.stack.spec import Container, SpecError

INITDB_DIR = "/docker-entrypoint-initdb.d"
# mysqld options the MariaDB runner owns (paths and the listen address); the chart's values for
# them are container paths that make no sense here.
RUNNER_OPTIONS = {"datadir", "port", "bind-address", "bind_address", "socket", "pid-file", "pid_file",
                  "log-error", "log_error", "user", "secure-file-priv", "secure_file_priv"}


def mysqld_options(mysql: Container) -> tuple[str, list[str]]:
    """[mysqld] lines from the mounted *.cnf files for the MariaDB runner, and the options left out.

    Options go in as `loose-<name>` so the MySQL-8.4-only ones are ignored with a warning instead
    of stopping MariaDB; the runner's own options (paths, port, bind address) are left out.
    """
    lines: list[str] = []
    skipped: list[str] = []
    for path in sorted(p for p in mysql.files if p.endswith(".cnf")):
        section = ""
        for raw in mysql.files[path].decode().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            if line.startswith("!"):
                skipped.append(f"{path}: {line}")
                continue
            name = line.split("=", 1)[0].strip()
            if section not in ("mysqld", "server", "mysqld-8.4") or name in RUNNER_OPTIONS:
                skipped.append(f"{path} [{section}] {line}")
                continue
            lines.append(line if name.startswith("loose") else f"loose-{line}")
    return "\n".join(lines), skipped


def _file_env(env: dict[str, str], name: str, mat: Materialized) -> str:
    """The official image's VAR / VAR_FILE convention."""
    if path := env.get(f"{name}_FILE"):
        return Path(mat.host_path(path) or path).read_text().strip()
    return env.get(name, "")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(text: str) -> str:
    return "`" + text.replace("`", "``") + "`"


def init_database(db: MariaDB, mysql: Container, mat: Materialized, log: Path) -> None:
    """What the official mysql image's entrypoint does on an empty data directory: database, user,
    root password, then every init script in name order (*.sql into the database, *.sh with bash)."""
    env = mysql.env
    database = _file_env(env, "MYSQL_DATABASE", mat)
    user, password = _file_env(env, "MYSQL_USER", mat), _file_env(env, "MYSQL_PASSWORD", mat)
    root_password = _file_env(env, "MYSQL_ROOT_PASSWORD", mat)
    if not root_password and not env.get("MYSQL_ALLOW_EMPTY_PASSWORD"):
        raise SpecError(f"{mysql.owner}: the mysql container gets no MYSQL_ROOT_PASSWORD(_FILE); "
                        "the official image refuses to start without one")
    sql = []
    if database:
        sql.append(f"CREATE DATABASE IF NOT EXISTS {_ident(database)};")
    if user and password:
        sql.append(f"CREATE USER IF NOT EXISTS {_quote(user)}@'%' IDENTIFIED BY {_quote(password)};")
        if database:
            sql.append(f"GRANT ALL ON {_ident(database)}.* TO {_quote(user)}@'%';")
    if root_password:
        host = env.get("MYSQL_ROOT_HOST", "%")
        sql.append(f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {_quote(root_password)};")
        sql.append(f"CREATE USER IF NOT EXISTS 'root'@{_quote(host)} IDENTIFIED BY {_quote(root_password)};")
        sql.append(f"GRANT ALL ON *.* TO 'root'@{_quote(host)} WITH GRANT OPTION;")
    sql.append("FLUSH PRIVILEGES;")
    db.sql("\n".join(sql), via_socket=True)
    scripts = sorted(p for p in mysql.files if p.startswith(INITDB_DIR.rstrip("/") + "/"))
    for path in scripts:
        host = mat.host_path(path) or path
        with log.open("a") as out:
            out.write(f"running init script {path}\n")
        if path.endswith(".sql"):
            db.sql(Path(host).read_text(), database=database, via_socket=True)
        elif path.endswith(".sh"):
            script_env = {**os.environ, **mat.env(), "MYSQL_UNIX_PORT": str(db.socket),
                          "MYSQL_PWD": root_password}
            res = subprocess.run(["bash", host], env=script_env, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise StackError(f"init script {path} ({mysql.owner}) failed:\n{res.stdout}{res.stderr}")
        else:
            raise StackError(f"init script {path} ({mysql.owner}): only *.sql and *.sh are supported")
