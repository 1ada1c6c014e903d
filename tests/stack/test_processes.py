"""testinfra (local backend) on the running stack: users, listening sockets, configuration read."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
import testinfra

from webstack import nginx_conf
from webstack.stack import NGINX_CONF, Stack
from webstack.stack.proc import children, run_as

pytestmark = pytest.mark.stack
host = testinfra.get_host("local://")


def _proc(pid: int):
    (p,) = host.process.filter(pid=pid)
    return p


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.fixture(scope="module", autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.fail("the user assertions need root (processes drop to the rendered runAsUser); run as root",
                    pytrace=False)


def test_nginx_master_and_workers_run_as_the_rendered_user(stack: Stack):
    assert stack.nginx and stack.spec
    uid, gid = stack.spec.nginx.run_as_user, stack.spec.nginx.run_as_group
    assert uid == 101 and gid == 101  # the unprivileged nginx image's user, from the pod securityContext
    workers = children(stack.nginx.pid)
    assert workers, "nginx has no worker processes"
    for pid in [stack.nginx.pid, *workers]:
        p = _proc(pid)
        assert (p.euid, p.egid) == (uid, gid), f"nginx pid {pid}: {p.args}"


def test_gunicorn_master_and_workers_run_as_the_app_user(stack: Stack):
    assert stack.app and stack.spec
    assert (stack.spec.app.run_as_user, stack.spec.app.run_as_group) == (10001, 10001)
    workers = children(stack.app.pid)
    assert len(workers) == int(stack.spec.app.env["GUNICORN_WORKERS"])  # the rendered worker count
    for pid in [stack.app.pid, *workers]:
        p = _proc(pid)
        assert (p.euid, p.egid) == (10001, 10001), f"gunicorn pid {pid}: {p.args}"


def test_mariadb_runs_as_mysql(stack: Stack):
    assert stack.db and stack.db.process
    p = _proc(stack.db.process.pid)
    assert p.user == "mysql" and p.comm == "mariadbd"


def test_every_server_listens_on_loopback_where_the_configuration_says(stack: Stack):
    assert stack.nginx_conf and stack.db
    conf = stack.nginx_conf.read_text()
    listens = [int(m) for m in re.findall(r"listen 127\.0\.0\.1:(\d+)", conf)]
    assert sorted(listens) == sorted(stack.nginx_ports.values())
    assert set(stack.nginx_ports) == {8080, 8081}  # the chart's http and stub_status ports
    for port in [*listens, stack.app_port, stack.db.port]:
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening, port
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, f"{port} listens on every address"
    assert _environ(stack.app.pid)["GUNICORN_BIND"] == f"127.0.0.1:{stack.app_port}"  # type: ignore[union-attr]


def test_nginx_reads_the_rendered_configuration(stack: Stack, tmp_path: Path):
    assert stack.nginx and stack.spec and stack.nginx_conf
    args = _proc(stack.nginx.pid).args
    assert f"-c {stack.nginx_conf}" in args
    rendered = stack.spec.render.data("ConfigMap", "webstack-nginx", "test")["nginx.conf"].decode()
    running = stack.nginx_conf.read_text()
    # Only paths and listen addresses differ: the rest is the ConfigMap line for line.
    differing = [(a, b) for a, b in zip(rendered.splitlines(), running.splitlines(), strict=True)
                 if a != b and not a.lstrip().startswith("#")]
    assert differing and all(re.search(r"listen |/tmp/", a) for a, _ in differing), differing
    assert stack.conf_changes
    # nginx -T as the nginx user: the file it loads is readable by it and parses.
    rc, dump = run_as(["nginx", "-T", "-c", str(stack.nginx_conf), "-p", str(stack.nginx_conf.parent),
                       "-e", "stderr"], tmp_path / "nginx-T.log", 101, 101)
    assert rc == 0, dump
    assert f"# configuration file {stack.nginx_conf}:" in dump
    # The rendered directives are in force: stub_status on the status port, worker_processes auto.
    status_port = stack.nginx_ports[8081]
    body = requests.get(f"http://127.0.0.1:{status_port}/stub_status", timeout=5).text
    assert body.startswith("Active connections:")
    assert len(children(stack.nginx.pid)) == os.cpu_count()
    assert NGINX_CONF in stack.spec.nginx.files


def test_gunicorn_runs_the_deployment_command_with_its_environment(stack: Stack):
    assert stack.app and stack.spec
    app = stack.spec.app
    args = _proc(stack.app.pid).args
    assert "-c python:webstack_app.gunicorn_conf webstack_app.wsgi:app" in args  # the image CMD
    env = _environ(stack.app.pid)
    for key, value in app.env.items():
        if key in ("GUNICORN_BIND", "DB_PASSWORD_FILE"):
            continue
        assert env[key] == value, key
    assert env["DB_HOST"] == "127.0.0.1" and env["DB_PORT"] == str(stack.db.port)  # type: ignore[union-attr]
    password = host.file(env["DB_PASSWORD_FILE"])
    assert env["DB_PASSWORD_FILE"].endswith("/etc/webstack/db/password")
    assert (password.uid, password.mode) == (10001, 0o400)  # the Secret mount's defaultMode
    secret = stack.spec.render.data("Secret", "webstack-mysql", "test")["mysql-password"].decode()
    assert password.content_string == secret


def test_mariadb_runs_with_the_rendered_my_cnf_and_init_scripts(stack: Stack):
    assert stack.db and stack.db.process and stack.spec
    args = _proc(stack.db.process.pid).args
    assert f"--defaults-file={stack.db.config}" in args
    cnf = host.file(str(stack.db.config)).content_string
    assert "loose-character-set-server = utf8mb4" in cnf
    variables = dict(line.split("\t") for line in stack.db.sql(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('character_set_server', 'collation_server', "
        "'max_connections', 'max_allowed_packet', 'time_zone', 'skip_name_resolve');",
        via_socket=True).splitlines())
    assert variables == {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_unicode_ci",
                         "max_connections": "151", "max_allowed_packet": str(16 * 1024 * 1024),
                         "time_zone": "+00:00", "skip_name_resolve": "ON"}
    # 01-webstack.sql from the initdb ConfigMap ran against the database the entrypoint created.
    collation = stack.db.sql("SELECT default_collation_name FROM information_schema.schemata "
                             "WHERE schema_name = 'webstack';", via_socket=True).strip()
    assert collation == "utf8mb4_unicode_ci"


def test_body_limit_comes_from_the_rendered_configuration(stack: Stack):
    assert stack.nginx_conf
    assert nginx_conf.body_limit(stack.nginx_conf.read_text()) == 1024 * 1024
