"""What the stack takes from a render, and the errors it gives for bad input (no processes here)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from webstack import nginx_conf
from webstack.errors import InputError, WebstackError
from webstack.manifests import Manifest
from webstack.stack import nginx as stack_nginx
from webstack.stack.db import mysqld_options
from webstack.stack.spec import Render, SpecError, StackSpec, nest, render

pytestmark = pytest.mark.stack


def _m(doc: dict) -> Manifest:
    return Manifest(source=f"test/{doc['kind'].lower()}.yaml", doc=doc)


def _pod(container: dict, volumes: list | None = None) -> Manifest:
    return _m({"kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [container], "volumes": volumes or [],
                                              "securityContext": {"runAsUser": 7, "runAsGroup": 8}}}}})


CM = _m({"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"A": "from-cm", "conf": "x=1"}})
SECRET = _m({"kind": "Secret", "metadata": {"name": "sec"},
             "data": {"pw": base64.b64encode(b"s3cret").decode()}, "stringData": {"plain": "p"}})


def test_env_resolves_config_maps_secrets_envfrom_and_expansion():
    c = {"name": "app", "image": "r.io/webstack/app:1.0.0",
         "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
         "env": [{"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "A"}}},
                 {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                 {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "URL", "value": "mysql://$(FROM_SECRET)@db/$$(literal)"}],
         "command": ["gunicorn"], "args": ["--name", "$(FROM_CM)"]}
    r = Render([CM, SECRET, _pod(c)])
    got = r.resolve(*r.find_container(("Deployment",), ("/webstack/app",), "app"))
    assert got.env == {"CM_A": "from-cm", "CM_conf": "x=1", "pw": "s3cret", "plain": "p",
                       "FROM_CM": "from-cm", "FROM_SECRET": "s3cret", "NS": "webstack", "URL": "mysql://s3cret@db/$(literal)"}
    assert got.command == ["gunicorn", "--name", "from-cm"]
    assert (got.run_as_user, got.run_as_group) == (7, 8)


def test_volumes_project_files_with_modes_items_and_subpaths():
    c = {"name": "app", "image": "webstack/app", "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/app/app.conf", "subPath": "conf"},
        {"name": "pw", "mountPath": "/etc/secret"}, {"name": "tmp", "mountPath": "/tmp"}]}
    vols = [{"name": "cfg", "configMap": {"name": "cm"}},
            {"name": "pw", "secret": {"secretName": "sec", "defaultMode": 0o400,
                                      "items": [{"key": "pw", "path": "password"}]}},
            {"name": "tmp", "emptyDir": {}}]
    r = Render([CM, SECRET, _pod(c, vols)])
    got = r.resolve(*r.find_container(("Deployment",), ("/webstack/app",), "app"))
    assert got.files == {"/etc/app/app.conf": b"x=1", "/etc/secret/password": b"s3cret"}
    assert got.secret_files == {"/etc/secret/password"}
    assert got.modes["/etc/secret/password"] == 0o400 and got.empty_dirs == ["/tmp"]


def test_a_missing_key_names_the_object_container_and_keys():
    c = {"name": "app", "image": "webstack/app",
         "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope"}}}]}
    r = Render([SECRET, _pod(c)])
    with pytest.raises(SpecError, match=r"test/deployment\.yaml Deployment/web container app env\[0\] \(X\): "
                                        r"Secret/sec has no key 'nope' \(keys: plain, pw\)"):
        r.resolve(*r.find_container(("Deployment",), ("/webstack/app",), "app"))


def test_a_missing_object_is_named():
    c = {"name": "app", "image": "webstack/app", "envFrom": [{"configMapRef": {"name": "gone"}}]}
    r = Render([_pod(c)])
    with pytest.raises(SpecError, match="refers to ConfigMap/gone, which the render does not contain"):
        r.resolve(*r.find_container(("Deployment",), ("/webstack/app",), "app"))


def test_a_render_without_nginx_says_what_is_missing():
    with pytest.raises(SpecError, match=r"no Deployment with a container image .*nginx.*objects: "
                                        r"Deployment/web"):
        StackSpec.from_manifests([_pod({"name": "app", "image": "webstack/app", "command": ["x"]})])


def test_real_render_resolves_all_containers():
    spec = StackSpec.from_manifests(render(sets={"nginx.upstream.port": 18000, "flask.database.port": 13306}))
    assert spec.app.env["DB_HOST"] == "127.0.0.1" and spec.app.env["DB_PORT"] == "13306"
    assert spec.app.env["DB_PASSWORD_FILE"] in spec.app.files
    assert spec.migrate.command == ["python", "-m", "webstack_app", "migrate"]
    assert "server 127.0.0.1:18000;" in spec.nginx.files["/etc/nginx/nginx.conf"].decode()
    assert any(p.startswith("/docker-entrypoint-initdb.d/") for p in spec.mysql.files)
    assert spec.backup is None and spec.restore is None  # off by default


def test_nest_builds_values_and_refuses_conflicts():
    assert nest({"a.b": 1, "a.c": True, "d": "x"}) == {"a": {"b": 1, "c": True}, "d": "x"}
    with pytest.raises(InputError, match=r"a\.b\.c conflicts"):
        nest({"a.b": 1, "a.b.c": 2})


def test_mysqld_options_keep_the_chart_settings_and_leave_runner_paths():
    from webstack.stack.spec import Container

    cnf = b"[mysqld]\nport = 3306\ndatadir=/var/lib/mysql\nmax_connections = 5\nskip-name-resolve\n" \
          b"# comment\n[client]\ndefault-character-set = utf8mb4\n"
    c = Container("StatefulSet/db", "mysql", "mysql:8.4", [], {}, files={"/etc/mysql/conf.d/x.cnf": cnf})
    lines, skipped = mysqld_options(c)
    assert lines.splitlines() == ["loose-max_connections = 5", "loose-skip-name-resolve"]
    assert len(skipped) == 3 and any("port = 3306" in s for s in skipped)


# --- nginx.conf rewriting ------------------------------------------------------------------------

CONF = """pid /tmp/nginx.pid;  # pid
error_log /var/log/nginx/error.log warn;
http {
    include /etc/nginx/mime.types;
    client_body_temp_path /tmp/client_temp;
    client_max_body_size 2m;
    server { listen 8080; listen [::]:8080; location /tmp { return 200; } }
    server { listen 0.0.0.0:8081 default_server; }
}
"""


def _host_path(path: str) -> str | None:
    return "/state/fs" + path if path == "/tmp" or path.startswith("/tmp/") else None


def test_rewrite_moves_paths_and_listens_only():
    out, changes = stack_nginx.rewrite(CONF, "nginx.conf", _host_path, "/state", {8080: 50001, 8081: 50002})
    assert "pid /state/fs/tmp/nginx.pid;" in out
    assert "error_log /state/error_log/error.log warn;" in out
    assert "include /etc/nginx/mime.types;" in out  # the image's own file: Debian's nginx has it
    assert "client_body_temp_path /state/fs/tmp/client_temp;" in out
    assert "listen 127.0.0.1:50001;" in out and "[::]" not in out
    assert "listen 127.0.0.1:50002 default_server;" in out
    assert "location /tmp {" in out  # a URL path, not a file: it stays
    assert "client_max_body_size 2m;" in out
    assert any("dropped IPv6" in c for c in changes)
    assert stack_nginx.listen_ports(CONF) == [8080, 8081]
    assert nginx_conf.body_limit(CONF) == 2 * 1024 * 1024
    assert set(stack_nginx.state_paths(out)) == {"/state/fs/tmp", "/state/error_log",
                                                 "/state/fs/tmp/client_temp"}


def test_rewrite_refuses_a_port_it_has_no_free_port_for():
    with pytest.raises(InputError, match=r"nginx\.conf: listen 0\.0\.0\.0:8081: no free port was mapped "
                                         r"for 8081"):
        stack_nginx.rewrite(CONF, "nginx.conf", _host_path, "/state", {8080: 50001})


# --- the command line --------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", "stack", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_missing_values_file_exits_2_and_leaves_nothing(tmp_path: Path):
    before = set(Path("/tmp").glob("webstack-stack-*"))
    res = _cli("up", "--state", str(tmp_path / "state.json"), "-f", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2
    assert f"{tmp_path / 'missing.yaml'}: values file does not exist" in res.stderr
    assert set(Path("/tmp").glob("webstack-stack-*")) == before
    assert not (tmp_path / "state.json").exists()


def test_cli_values_file_that_is_not_a_mapping_exits_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    res = _cli("up", "--state", str(tmp_path / "state.json"), "-f", str(bad))
    assert res.returncode == 2, res.stderr
    assert str(bad) in res.stderr
    assert not (tmp_path / "state.json").exists()


def test_cli_down_without_a_state_file_exits_2(tmp_path: Path):
    res = _cli("down", "--state", str(tmp_path / "none.json"))
    assert res.returncode == 2
    assert f"{tmp_path / 'none.json'}: no stack state file" in res.stderr


def test_cli_down_with_a_broken_state_file_exits_2(tmp_path: Path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"root": "/nowhere"}))
    res = _cli("down", "--state", str(state))
    assert res.returncode == 2
    assert f"{state}: not a stack state file: expected JSON with supervisor_pid, root and pids" in res.stderr


def test_errors_are_webstack_errors():
    assert issubclass(SpecError, WebstackError)
