"""The stand-ins run the way the chart runs them, without a cluster: the image's root filesystem
(buildah mount) bind-mounted read-only, the chart's volumes bind-mounted over it, the process as the
chart's uid, in private mount, network and PID namespaces (unshare). The cluster lifecycle is the
full proof; this catches a broken entrypoint or config in seconds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from webstack import helm, images
from webstack.images.buildah import Tools
from webstack.paths import CHART_DIR
from webstack.render import RELEASE

pytestmark = pytest.mark.images
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Common prologue: $1 rootfs, $2 work dir, then "volume:mountpoint" pairs; the root is made
# read-only after the mountpoints exist (as runc does), `in_image` runs a command as $RUN_AS in it.
PROLOGUE = r"""
set -euo pipefail
R="$1"; W="$2"; shift 2
ip link set lo up
mount --make-rprivate /
for pair in "$@"; do [[ -e "$R/${pair#*:}" ]] || mkdir -p "$R/${pair#*:}"; done
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"
for pair in "$@"; do mount --bind "$W/${pair%%:*}" "$R/${pair#*:}"; done
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
in_image() { chroot --userspec="$RUN_AS" "$R" /usr/bin/env -i PATH="$IMAGE_PATH" HOME=/nonexistent "$@"; }
# The container's main process, in the background with $server its own PID (no subshell between).
# Its log is owned by it: nginx reopens /dev/stderr, which a container runtime makes a pipe.
start() {
  : > "$W/server.log"
  chown "$RUN_AS" "$W/server.log"
  chroot --userspec="$RUN_AS" "$R" /usr/bin/env -i PATH="$IMAGE_PATH" HOME=/nonexistent "$@" \
    > "$W/server.log" 2>&1 &
  server=$!
}
stop() { kill "-$1" "$server"; wait "$server" && rc=0 || rc=$?; echo "server exited $rc"; }
wait_for() {  # until "$@" succeeds, or the $server process died, or 60s passed
  for _ in $(seq 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [[ -z "${server:-}" ]] || kill -0 "$server" 2>/dev/null || break
    sleep 0.5
  done
  "$@"
}
"""


@pytest.fixture
def rootfs(built) -> Iterator[Callable[[images.BuiltImage], Path]]:
    """Mounts a built image's root filesystem (a throwaway buildah container)."""
    tools = Tools(images.images_dir())
    containers: list[str] = []

    def mount(image: images.BuiltImage) -> Path:
        if not tools.has_image(image.ref):
            tools.load(image.name, image.ref, image.archive, Path(os.devnull))
        containers.append(_out(tools.buildah_cmd("from", "--pull-never", "--quiet", image.ref)))
        return Path(_out(tools.buildah_cmd("mount", containers[-1])))

    yield mount
    for c in containers:
        subprocess.run(tools.buildah_cmd("rm", c), capture_output=True, check=False)


def _out(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def _run_in_namespaces(script: str, root: Path, work: Path, mounts: list[str], run_as: str,
                       ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUN_AS": run_as, "IMAGE_PATH": PATH}
    return subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "bash", "-c",
                           PROLOGUE + script, "smoke", str(root), str(work), *mounts],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def _render(template: str, values: dict, tmp_path: Path) -> list[dict]:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    out = helm.run(["template", RELEASE, str(CHART_DIR), "--show-only", template, "--values", str(file)])
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _volume(work: Path, name: str, files: dict[str, str] | None = None, uid: int = 999,
            mode: int = 0o750) -> None:
    folder = work / name
    folder.mkdir()
    for fname, text in (files or {}).items():
        (folder / fname).write_text(text)
        os.chown(folder / fname, uid, uid)
    os.chown(folder, uid, uid)
    folder.chmod(mode)


MYSQL_SCRIPT = r"""
secrets="$W/secrets"
start MYSQL_ROOT_PASSWORD_FILE=/etc/mysql-secrets/mysql-root-password MYSQL_DATABASE=webstack \
  MYSQL_USER=webstack MYSQL_PASSWORD_FILE=/etc/mysql-secrets/mysql-password \
  /usr/local/bin/docker-entrypoint.sh mariadbd
wait_for in_image mysqladmin --host=127.0.0.1 --port=3306 ping
# The chart's readiness probe, verbatim.
readiness='MYSQL_PWD="$(cat /etc/mysql-secrets/mysql-root-password)" exec mysqladmin --host=127.0.0.1 \
  --port=3306 --user=root status'
echo "readiness: $(in_image bash -c "$readiness")"
in_image MYSQL_PWD="$(cat "$secrets/mysql-password")" mariadb --host=127.0.0.1 --user=webstack --batch \
  --skip-column-names webstack -e "SELECT 'db', @@character_set_database, @@collation_database, \
  @@max_connections; SELECT 'marker', source FROM marker ORDER BY source"
in_image MYSQL_HOST=127.0.0.1 MYSQL_PORT=3306 MYSQL_USER=root MYSQL_DATABASE=webstack BACKUP_DIR=/backup \
  BACKUP_RETENTION=2 MYSQL_PASSWORD_FILE=/etc/mysql-secrets/mysql-root-password /scripts/backup.sh
stop TERM
"""


def test_mysql_stand_in_runs_the_charts_config_and_init_scripts(built, rootfs, tmp_path):
    values = {"mysql": {"config": {"maxConnections": 77}, "initdbScripts": {
        "02-marker.sql": "CREATE TABLE marker (source VARCHAR(8));\nINSERT INTO marker VALUES ('sql');",
        "03-marker.sh": "mariadb --user=root webstack -e \"INSERT INTO marker VALUES ('sh')\"",
    }}}
    maps = {d["metadata"]["name"]: d["data"]
            for d in _render("charts/mysql/templates/configmap.yaml", values, tmp_path)}
    work = tmp_path / "work"
    work.mkdir()
    _volume(work, "conf", maps[f"{RELEASE}-mysql"], mode=0o755)
    _volume(work, "initdb", maps[f"{RELEASE}-mysql-initdb"], mode=0o755)
    _volume(work, "scripts", maps[f"{RELEASE}-mysql-scripts"], mode=0o755)
    for script in ("backup.sh", "restore.sh"):
        (work / "scripts" / script).chmod(0o555)
    _volume(work, "secrets", {"mysql-root-password": "r00t'pw\\x", "mysql-password": "app pw"}, mode=0o500)
    for name in ("data", "run", "files", "backup"):
        _volume(work, name)
    _volume(work, "tmp", mode=0o1777)
    # /var/run/mysqld in the chart: /var/run links to /run, which runc resolves inside the root
    # filesystem and a plain bind mount here would not.
    mounts = ["data:/var/lib/mysql", "run:/run/mysqld", "tmp:/tmp", "files:/var/lib/mysql-files",
              "conf:/etc/mysql/conf.d", "initdb:/docker-entrypoint-initdb.d", "secrets:/etc/mysql-secrets",
              "scripts:/scripts", "backup:/backup"]
    res = _run_in_namespaces(MYSQL_SCRIPT, rootfs(built.one("mysql")), work, mounts, "999:999")
    log = (work / "server.log").read_text() if (work / "server.log").exists() else ""
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}\n--- server log ---\n{log}"
    assert "readiness: Uptime:" in res.stdout
    assert "db\tutf8mb4\tutf8mb4_unicode_ci\t77" in res.stdout
    assert "marker\tsh\nmarker\tsql" in res.stdout
    assert "server exited 0" in res.stdout
    assert "initialisation done" in log
    dumps = list((work / "backup").glob("webstack-*.sql"))
    assert len(dumps) == 1 and "-- Dump completed" in dumps[0].read_text()


NGINX_SCRIPT = r"""
start nginx -g 'daemon off;'
wait_for python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/nginx-health")'
echo "health: $(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/nginx-health").read().decode().strip())')"
stop QUIT
"""


def test_nginx_stand_in_serves_the_charts_config(built, rootfs, tmp_path):
    values = {"nginx": {"upstream": {"host": "127.0.0.1"}}}
    conf = _render("charts/nginx/templates/configmap.yaml", values, tmp_path)[0]["data"]["nginx.conf"]
    assert "listen 8080;" in conf  # the port the stand-in serves, as the chart says
    work = tmp_path / "work"
    work.mkdir()
    _volume(work, "tmp", uid=101, mode=0o1777)
    root = rootfs(built.one("nginx"))
    (work / "nginx.conf").write_text(conf)
    (work / "nginx.conf").chmod(0o644)
    res = _run_in_namespaces(NGINX_SCRIPT, root, work, ["tmp:/tmp", "nginx.conf:/etc/nginx/nginx.conf"],
                             "101:101")
    log = (work / "server.log").read_text() if (work / "server.log").exists() else ""
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}\n--- nginx log ---\n{log}"
    assert "health: ok" in res.stdout and "server exited 0" in res.stdout
    assert "emerg" not in log and "alert" not in log, log
