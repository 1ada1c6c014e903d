"""Each ci values scenario renders with the real helm and has the objects it promises; every pod spec
meets the restricted Pod Security Standard; no secret leaks into ConfigMaps, env literals or NOTES.

Every scenario is rendered once per module (concurrently, through webstack.render).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from webstack import helm
from webstack.manifests import Manifest, containers, map_selector_matches, pod_template, selector_matches
from webstack.paths import APP_DIR, CHART_DIR
from webstack.render import NAMESPACE, RELEASE, render_jobs
from webstack.values import matrix

pytestmark = pytest.mark.static

SCENARIOS = [vs.name for vs in matrix(CHART_DIR)]
# The restricted Pod Security Standard's allowed volume types.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


@pytest.fixture(scope="module")
def renders() -> dict[str, list[Manifest]]:
    jobs = {vs.name: (CHART_DIR, vs) for vs in matrix(CHART_DIR)}
    return {name: r.manifests for name, r in render_jobs(jobs).items()}


def objects(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m.name: m for m in manifests if m.kind == kind}


def pods(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for m in manifests:
        tpl = pod_template(m)
        if tpl is not None:
            yield m, tpl["spec"]


def name(suffix: str) -> str:
    return f"{RELEASE}-{suffix}"


def test_matrix_has_every_required_scenario() -> None:
    required = {"defaults", "external-database", "ingress-tls", "hpa-pdb", "no-persistence",
                "existing-secrets", "minimal-resources"}
    assert required <= set(SCENARIOS), f"missing ci/*-values.yaml: {required - set(SCENARIOS)}"


def test_defaults_render_the_whole_stack(renders: dict[str, list[Manifest]]) -> None:
    ms = renders["defaults"]
    assert set(objects(ms, "Deployment")) == {name("flask"), name("nginx")}
    assert set(objects(ms, "StatefulSet")) == {name("mysql")}
    assert set(objects(ms, "Service")) == {name("flask"), name("nginx"), name("mysql"),
                                           name("mysql-headless")}
    assert set(objects(ms, "Secret")) == {name("mysql")}, "only the generated MySQL Secret"
    assert set(objects(ms, "NetworkPolicy")) == {name("flask"), name("nginx"), name("mysql")}
    assert set(objects(ms, "PodDisruptionBudget")) == {name("flask"), name("nginx")}
    assert not objects(ms, "HorizontalPodAutoscaler") and not objects(ms, "Ingress")
    assert not objects(ms, "CronJob"), "backup is opt-in"
    job = objects(ms, "Job")[name("flask-migrate")]
    assert job.annotations["helm.sh/hook"] == "post-install,pre-upgrade"
    assert job.annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job.doc["spec"]["backoffLimit"] >= 1 and job.doc["spec"]["activeDeadlineSeconds"] > 0
    main = job.doc["spec"]["template"]["spec"]["containers"][0]
    assert main["command"] == ["python", "-m", "webstack_app", "migrate"]
    assert job.doc["spec"]["template"]["spec"]["initContainers"][0]["name"] == "wait-for-database"
    test_pod = objects(ms, "Pod")[name("webstack-test-api")]
    assert test_pod.annotations["helm.sh/hook"] == "test"


def test_app_version_and_images_follow_the_contract(renders: dict[str, list[Manifest]]) -> None:
    version = (APP_DIR / "VERSION").read_text().strip() if (APP_DIR / "VERSION").is_file() else "1.0.0"
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    ms = renders["defaults"]
    app = objects(ms, "Deployment")[name("flask")].doc["spec"]["template"]["spec"]["containers"][0]
    assert app["image"] == f"webstack/app:{version}"
    assert objects(ms, "StatefulSet")[name("mysql")].doc["spec"]["template"]["spec"]["containers"][0][
        "image"] == "mysql:8.4"
    cm = objects(ms, "ConfigMap")[name("flask")].doc["data"]
    assert cm["APP_VERSION"] == version and cm["DB_HOST"] == name("mysql") and cm["DB_PORT"] == "3306"
    assert cm["GUNICORN_BIND"] == "0.0.0.0:8000" and cm["DB_PASSWORD_FILE"] == "/etc/webstack/db/password"
    # integers stay integers (helm's float64 would print 1.048576e+06)
    assert cm["MAX_CONTENT_LENGTH"] == "1048576" and cm["GUNICORN_WORKERS"] == "2"


def test_flask_deployment_rollout_and_probes(renders: dict[str, list[Manifest]]) -> None:
    dep = objects(renders["defaults"], "Deployment")[name("flask")].doc
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    app = pod["containers"][0]
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    sleep = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    env = objects(renders["defaults"], "ConfigMap")[name("flask")].doc["data"]
    assert pod["terminationGracePeriodSeconds"] > sleep + int(env["GUNICORN_GRACEFUL_TIMEOUT"])
    assert pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == dep["spec"]["selector"][
        "matchLabels"]
    mounts = {m["mountPath"] for m in app["volumeMounts"]}
    assert {"/tmp", "/etc/webstack/db"} <= mounts


def test_nginx_points_at_flask_service(renders: dict[str, list[Manifest]]) -> None:
    conf = objects(renders["defaults"], "ConfigMap")[name("nginx")].doc["data"]["nginx.conf"]
    assert f"server {name('flask')}:8000;" in conf
    for needle in ("listen 8080;", "location = /nginx-health", "stub_status;", "listen 8081;",
                   "proxy_set_header X-Request-ID", "X-Forwarded-For", "gzip on;", "client_max_body_size",
                   "keepalive 32;", "log_format json escape=json", "X-Content-Type-Options"):
        assert needle in conf, needle
    flask_svc = objects(renders["defaults"], "Service")[name("flask")].doc
    assert flask_svc["spec"]["ports"][0]["port"] == 8000


def test_external_database(renders: dict[str, list[Manifest]]) -> None:
    ms = renders["external-database"]
    assert not objects(ms, "StatefulSet")
    assert set(objects(ms, "NetworkPolicy")) == {name("flask"), name("nginx")}, "no MySQL, no MySQL policy"
    assert not objects(ms, "Secret"), "the password comes from an existing Secret"
    cm = objects(ms, "ConfigMap")[name("flask")].doc["data"]
    assert cm["DB_HOST"] == "mysql.databases.svc.cluster.local"
    vol = _db_volume(objects(ms, "Deployment")[name("flask")])
    assert vol == {"secretName": "webstack-external-db", "key": "password"}


def test_existing_secrets(renders: dict[str, list[Manifest]]) -> None:
    ms = renders["existing-secrets"]
    assert not objects(ms, "Secret"), "no generated Secret when every credential exists"
    assert _db_volume(objects(ms, "Deployment")[name("flask")]) == {
        "secretName": "webstack-mysql-credentials", "key": "mysql-password"}
    sts = objects(ms, "StatefulSet")[name("mysql")].doc["spec"]["template"]["spec"]
    secret_vol = next(v for v in sts["volumes"] if v["name"] == "secrets")
    assert secret_vol["secret"]["secretName"] == "webstack-mysql-credentials"
    cron = objects(ms, "CronJob")[name("mysql-backup")].doc
    backup_vol = next(v for v in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
                      if v["name"] == "backup")
    assert backup_vol["persistentVolumeClaim"]["claimName"] == "webstack-mysql-backups"
    assert not objects(ms, "PersistentVolumeClaim")
    for m, spec in pods(ms):
        assert spec.get("imagePullSecrets") == [{"name": "webstack-registry"}], m.ref


def test_ingress_tls(renders: dict[str, list[Manifest]]) -> None:
    ing = objects(renders["ingress-tls"], "Ingress")[name("nginx")].doc
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"secretName": "webstack-example-com-tls",
                                   "hosts": ["webstack.example.com"]}]
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": name("nginx"), "port": {"name": "http"}}
    conf = objects(renders["ingress-tls"], "ConfigMap")[name("nginx")].doc["data"]["nginx.conf"]
    assert 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;' in conf


def test_hpa_pdb(renders: dict[str, list[Manifest]]) -> None:
    ms = renders["hpa-pdb"]
    hpas = objects(ms, "HorizontalPodAutoscaler")
    assert set(hpas) == {name("flask"), name("nginx")}
    for n, hpa in hpas.items():
        assert hpa.doc["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": n}
        assert "replicas" not in objects(ms, "Deployment")[n].doc["spec"], "the HPA owns replicas"
    pdbs = objects(ms, "PodDisruptionBudget")
    assert pdbs[name("flask")].doc["spec"]["minAvailable"] == 1
    assert pdbs[name("nginx")].doc["spec"]["maxUnavailable"] == 1


def test_no_persistence(renders: dict[str, list[Manifest]]) -> None:
    sts = objects(renders["no-persistence"], "StatefulSet")[name("mysql")].doc["spec"]
    assert "volumeClaimTemplates" not in sts
    data = next(v for v in sts["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {}}
    assert "volumeClaimTemplates" in objects(renders["defaults"], "StatefulSet")[name("mysql")].doc["spec"]


def test_minimal_resources(renders: dict[str, list[Manifest]]) -> None:
    ms = renders["minimal-resources"]
    for n in (name("flask"), name("nginx")):
        assert objects(ms, "Deployment")[n].doc["spec"]["replicas"] == 1
    assert not objects(ms, "PodDisruptionBudget")
    assert objects(ms, "Deployment")[name("flask")].doc["spec"]["template"]["spec"]["containers"][0][
        "resources"]["requests"] == {"cpu": "25m", "memory": "96Mi"}


def _db_volume(dep: Manifest) -> dict[str, str]:
    vol = next(v for v in dep.doc["spec"]["template"]["spec"]["volumes"] if v["name"] == "db-password")
    return {"secretName": vol["secret"]["secretName"], "key": vol["secret"]["items"][0]["key"]}


# --- restricted Pod Security Standard, rule by rule, on every pod spec of every scenario -------------

def _pod_value(spec: dict[str, Any], c: dict[str, Any], key: str) -> Any:
    """A container's effective securityContext field (container wins over pod)."""
    cval = (c.get("securityContext") or {}).get(key)
    return cval if cval is not None else (spec.get("securityContext") or {}).get(key)


def _each_container(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = False
    for m, spec in pods(manifests):
        for path, c in containers(spec):
            found = True
            yield f"{m.ref} {path} ({c.get('name')})", spec, c
    assert found, "no pod spec rendered"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_run_as_non_root_with_non_zero_uid(renders: dict[str, list[Manifest]], scenario: str) -> None:
    for where, spec, c in _each_container(renders[scenario]):
        assert _pod_value(spec, c, "runAsNonRoot") is True, where
        uid = _pod_value(spec, c, "runAsUser")
        assert isinstance(uid, int) and uid > 0, f"{where}: runAsUser {uid!r}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_privilege_escalation(renders: dict[str, list[Manifest]], scenario: str) -> None:
    for where, _, c in _each_container(renders[scenario]):
        assert (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is False, where
        assert not (c.get("securityContext") or {}).get("privileged"), where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_capabilities_drop_all(renders: dict[str, list[Manifest]], scenario: str) -> None:
    for where, _, c in _each_container(renders[scenario]):
        caps = (c.get("securityContext") or {}).get("capabilities") or {}
        assert "ALL" in (caps.get("drop") or []), where
        assert not caps.get("add"), f"{where}: adds {caps.get('add')}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_seccomp_runtime_default(renders: dict[str, list[Manifest]], scenario: str) -> None:
    for where, spec, c in _each_container(renders[scenario]):
        profile = _pod_value(spec, c, "seccompProfile") or {}
        assert profile.get("type") in ("RuntimeDefault", "Localhost"), where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_read_only_root_filesystem(renders: dict[str, list[Manifest]], scenario: str) -> None:
    for where, _, c in _each_container(renders[scenario]):
        assert (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is True, where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_restricted_volume_types_and_no_host_namespaces(renders: dict[str, list[Manifest]],
                                                             scenario: str) -> None:
    for m, spec in pods(renders[scenario]):
        for v in spec.get("volumes") or []:
            kinds = set(v) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, f"{m.ref} volume {v['name']}: {kinds}"
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), f"{m.ref}: {key}"
        for path, c in containers(spec):
            assert all("hostPort" not in p for p in c.get("ports") or []), f"{m.ref} {path}: hostPort"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_service_account_token_and_resources_everywhere(renders: dict[str, list[Manifest]],
                                                           scenario: str) -> None:
    for m, spec in pods(renders[scenario]):
        assert spec.get("automountServiceAccountToken") is False, m.ref
    for where, _, c in _each_container(renders[scenario]):
        res = c.get("resources") or {}
        assert res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"), where


# --- secrets --------------------------------------------------------------------------------------------

def _secret_values(manifests: list[Manifest]) -> set[str]:
    out = set()
    for m in manifests:
        if m.kind == "Secret":
            out |= {base64.b64decode(v).decode() for v in (m.doc.get("data") or {}).values()}
            out |= set((m.doc.get("stringData") or {}).values())
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_in_configmaps_or_env_literals(renders: dict[str, list[Manifest]], scenario: str) -> None:
    ms = renders[scenario]
    secrets = _secret_values(ms)
    for m in ms:
        if m.kind == "ConfigMap":
            text = yaml.safe_dump(m.doc.get("data") or {})
            assert not any(s in text for s in secrets), f"{m.ref} contains a Secret value"
            assert not re.search(r"(?i)^\s*[\w-]*password(?!_file)[\w-]*\s*[:=]\s*\S", text, re.M), (
                f"{m.ref} sets a password-like key")
    for where, _, c in _each_container(ms):
        for e in c.get("env") or []:
            if "value" in e:
                assert e["value"] not in secrets, f"{where}: env {e['name']} is a secret literal"
                assert not re.search(r"(?i)password(?!_file)|secret|token", e["name"]), (
                    f"{where}: env {e['name']} looks secret and is a literal")


def test_generated_passwords_are_strong_and_lookup_based() -> None:
    text = (CHART_DIR / "charts/mysql/templates/secret.yaml").read_text()
    assert "lookup" in text and "randAlphaNum" in text
    res = helm.run(["template", RELEASE, str(CHART_DIR), "--show-only", "charts/mysql/templates/secret.yaml"])
    data = yaml.safe_load(res.stdout)["data"]
    assert set(data) == {"mysql-root-password", "mysql-password"}
    values = [base64.b64decode(v).decode() for v in data.values()]
    assert all(len(v) >= 24 for v in values) and values[0] != values[1]


def test_notes_name_the_secret_but_never_print_a_password(tmp_path: Path) -> None:
    res = helm.run(["install", RELEASE, str(CHART_DIR), "--dry-run=client", "--namespace", NAMESPACE],
                   env=_offline_env(tmp_path))
    notes = res.stdout.split("NOTES:", 1)[1]
    manifests = res.stdout.split("NOTES:", 1)[0]
    encoded = re.findall(r"mysql-(?:root-)?password: \"?([A-Za-z0-9+/=]+)", manifests)
    secrets = {base64.b64decode(v).decode() for v in encoded}
    assert len(secrets) == 2
    assert not any(s in notes for s in secrets), "NOTES printed a password"
    assert f"get secret {name('mysql')}" in notes and "port-forward service/" + name("nginx") in notes


def _offline_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")  # --dry-run=client never contacts a cluster
    env["HELM_CACHE_HOME"] = str(tmp_path / "cache")
    env["HELM_CONFIG_HOME"] = str(tmp_path / "config")
    return env


# --- selectors: each selects exactly its own pods ---------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_pick_exactly_their_workload(renders: dict[str, list[Manifest]], scenario: str) -> None:
    """A Service, PDB or workload selector that also matched a hook Job's or the test pod's labels would
    send traffic to it or miscount disruptions (kube-controller-manager reports exactly that)."""
    ms = renders[scenario]
    templates = [(m, (pod_template(m) or {}).get("metadata", {}).get("labels") or {}) for m in ms
                 if pod_template(m) is not None]
    for m in ms:
        selector = m.doc.get("spec", {}).get("selector")
        if m.kind in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            matched = {t.ref for t, labels in templates if selector_matches(selector, labels)}
        elif m.kind == "Service":
            matched = {t.ref for t, labels in templates if map_selector_matches(selector, labels)}
        else:
            continue
        assert len(matched) == 1, f"{m.ref} selects {sorted(matched) or 'nothing'}"
        [target] = matched
        assert target.split("/")[0] in ("Deployment", "StatefulSet"), f"{m.ref} selects {target}"
        if m.kind in ("Deployment", "StatefulSet"):
            assert target == m.ref
