"""The real chart refuses before rendering what would fail later: values that go together (if/then in the
schemas, so helm refuses them too), values the API server rejects; `webstack lint` fails on a template's
`fail()`; keys documented as naming outside objects are external to the references check; every image
of every pod honours its block's digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from webstack import helm, schema_defs
from webstack.checks import references, run_gate
from webstack.cli import main
from webstack.errors import HelmError
from webstack.paths import CHART_DIR
from webstack.render import RELEASE, render_all
from webstack.values import ValuesSet

pytestmark = pytest.mark.static
DIGEST = "sha256:" + "ab" * 32


def _file(tmp_path: Path, text: str, name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _check(tmp_path: Path, values: Path, *args: str) -> tuple[int, list[dict]]:
    out = tmp_path / "report.json"
    rc = main(["check", "--values", str(values), *args, "--format", "json", "--output", str(out)])
    return rc, json.loads(out.read_text())["findings"]


# --- values that go together ---------------------------------------------------------------------------

PAIRS = [
    (
        "mysql:\n  enabled: false\n",
        "flask.externalDatabase.host",
        "mysql.enabled is false: set flask.externalDatabase.host (the external MySQL host)",
        2,
    ),
    (
        "mysql:\n  enabled: false\nflask:\n  externalDatabase:\n    host: db.example\n",
        "flask.externalDatabase",
        "flask.externalDatabase.host is set: set flask.externalDatabase.existingSecret (recommended) "
        "or flask.externalDatabase.password",
        5,
    ),
    (
        "flask:\n  externalDatabase:\n    host: db.example\n    existingSecret: db\n",
        "mysql.enabled",
        "flask.externalDatabase.host is set: mysql.enabled must be false, got true",
        3,
    ),
    (
        "mysql:\n  auth:\n    existingSecret: creds\n",
        "flask.database.existingSecret",
        "mysql.auth.existingSecret is set and flask.externalDatabase.host is not set: set "
        "flask.database.existingSecret (the same Secret as mysql.auth.existingSecret",
        3,
    ),
    (
        "mysql:\n  restore:\n    enabled: true\n",
        "mysql.backup.persistence.existingClaim",
        "mysql.restore.enabled is true and mysql.backup.enabled is false: set "
        "mysql.backup.persistence.existingClaim",
        3,
    ),
    (
        "mysql:\n  metrics:\n    serviceMonitor:\n      enabled: true\n",
        "mysql.metrics.enabled",
        "mysql.metrics.serviceMonitor.enabled is true: mysql.metrics.enabled must be true, got false",
        4,
    ),
]


@pytest.mark.parametrize(("text", "path", "message", "line"), PAIRS, ids=[p[1] for p in PAIRS])
def test_values_that_go_together_are_values_errors_before_rendering(tmp_path, text, path, message, line):
    values = _file(tmp_path, text)
    rc, found = _check(tmp_path, values)
    assert rc == 1  # values findings: nothing rendered
    (f,) = found
    assert (f["check"], f["rule"], f["path"]) == ("values", "VALUES-COMBINATION", path)
    assert f["message"].startswith(message), f["message"]
    assert f["file"] == f"{values}:{line}"  # the line that set the condition
    # helm itself refuses them at install, from the same schemas
    with pytest.raises(HelmError, match="values don't meet the specifications"):
        helm.run(["template", RELEASE, str(CHART_DIR), "--values", str(values)])


def test_each_mode_set_in_full_passes(tmp_path):
    ext = _file(
        tmp_path, "mysql:\n  enabled: false\nflask:\n  externalDatabase:\n    host: db\n    password: pw\n"
    )
    mine = _file(
        tmp_path,
        "mysql:\n  auth:\n    existingSecret: creds\nflask:\n  database:\n    existingSecret: creds\n",
        "mine.yaml",
    )
    restore = _file(
        tmp_path, "mysql:\n  restore:\n    enabled: true\n  backup:\n    enabled: true\n", "r.yaml"
    )
    for values in (ext, mine, restore):
        assert _check(tmp_path, values, "--check", "values") == (0, [])


# --- values the API server rejects ---------------------------------------------------------------------

REJECTED = [
    ("flask:\n  rollingUpdate:\n    maxSurge: 0\n    maxUnavailable: 0\n", "flask.rollingUpdate", "both 0"),
    ("nginx:\n  rollingUpdate:\n    maxSurge: 0%\n", "nginx.rollingUpdate", "both 0"),
    ("flask:\n  rollingUpdate:\n    maxUnavailable: '150%'\n", "flask.rollingUpdate.maxUnavailable", "100%"),
    ("nginx:\n  rollingUpdate:\n    maxSurge: '5'\n", "nginx.rollingUpdate.maxSurge", "percentage"),
    ("flask:\n  pdb:\n    minAvailable: '5'\n", "flask.pdb.minAvailable", "percentage"),
    ("nginx:\n  pdb:\n    maxUnavailable: 101%\n", "nginx.pdb.maxUnavailable", "percentage"),
    ("mysql:\n  resources:\n    limits:\n      memory: -1\n", "mysql.resources.limits.memory", "at least 0"),
    ("flask:\n  podLabels:\n    team: 'a b'\n", "flask.podLabels.team", "label value"),
    ("nginx:\n  commonLabels:\n    'bad key!': x\n", "nginx.commonLabels", 'key "bad key!"'),
    ("mysql:\n  nodeSelector:\n    zone: " + "z" * 64 + "\n", "mysql.nodeSelector.zone", "label value"),
    ("flask:\n  podAnnotations:\n    'a/b/c': x\n", "flask.podAnnotations", "key"),
    ("mysql:\n  fullnameOverride: " + "m" * 53 + "\n", "mysql.fullnameOverride", "52 characters"),
    ("nginx:\n  fullnameOverride: 9front\n", "nginx.fullnameOverride", "DNS label starting with a letter"),
    ("mysql:\n  backup:\n    schedule: 'a b c d e'\n", "mysql.backup.schedule", "cron fields"),
    ("mysql:\n  persistence:\n    accessModes: []\n", "mysql.persistence.accessModes", "at least 1 item"),
    ("nginx:\n  ingress:\n    enabled: true\n    hosts: []\n", "nginx.ingress.hosts", "at least 1 item"),
    (
        "nginx:\n  ingress:\n    enabled: true\n    hosts:\n      - host: 10.1.2.3\n"
        "        paths: [{path: /, pathType: Prefix}]\n",
        "nginx.ingress.hosts[0].host",
        "IP address",
    ),
    (
        "flask:\n  probes:\n    readiness:\n      failureThreshold: 0\n",
        "flask.probes.readiness.failureThreshold",
        "at least 1",
    ),
]


@pytest.mark.parametrize(("text", "path", "words"), REJECTED, ids=[r[1] for r in REJECTED])
def test_values_the_api_server_rejects_are_refused(tmp_path, text, path, words):
    rc, found = _check(tmp_path, _file(tmp_path, text))
    assert rc == 1
    assert [f["path"] for f in found] == [path], found
    assert words in found[0]["message"]


def test_every_deployment_has_the_rolling_update_rule():
    for chart in ("flask", "nginx"):
        deployment = (CHART_DIR / "charts" / chart / "templates" / "deployment.yaml").read_text()
        assert ".Values.rollingUpdate.maxSurge" in deployment
        schema = json.loads((CHART_DIR / "charts" / chart / "values.schema.json").read_text())
        assert "not" in schema_defs.resolve(schema, schema["properties"]["rollingUpdate"]), chart


# --- lint renders -------------------------------------------------------------------------------------


def test_lint_fails_on_a_values_set_that_makes_a_template_fail(tmp_path):
    values = _file(tmp_path, "flask:\n  terminationGracePeriodSeconds: 5\n", "short-grace.yaml")
    assert (
        "funcMap fail"
        in helm.run(["lint", "--strict", str(CHART_DIR), "-f", str(values)], check=False).stderr
    )
    out = tmp_path / "lint.json"
    rc = main(["lint", "--values", str(values), "--format", "json", "--output", str(out)])
    assert rc == 1
    (f,) = [f for f in json.loads(out.read_text())["findings"] if f["rule"] == "RENDER-FAILED"]
    assert f["file"] == f"{CHART_DIR / 'charts/flask/templates/configmap.yaml'}:1"
    assert f["severity"] == "error" and f["context"] == "short-grace"
    assert "flask: terminationGracePeriodSeconds (5) must be greater than" in f["message"]
    assert str(values) in f["message"]


# --- objects made outside the chart --------------------------------------------------------------------


def test_documented_outside_objects_are_external(tmp_path):
    values = _file(
        tmp_path,
        "flask:\n  image:\n    pullSecrets: [flask-registry]\n"
        "  serviceAccount:\n    create: false\n    name: workload-identity\n"
        "  extraVolumes:\n    - name: ca\n      secret:\n        secretName: corp-ca\n"
        "  extraVolumeMounts:\n    - name: ca\n      mountPath: /etc/ca\n"
        "mysql:\n  image:\n    pullSecrets: [mysql-registry]\n"
        "nginx:\n  image:\n    pullSecrets: [nginx-registry]\n",
    )
    result = run_gate(CHART_DIR, [ValuesSet("ext", (values,))], ["1.30"], checks=("values", "references"))
    assert [f for f in result.findings if f.rule.startswith("REF-MISSING")] == []
    # the names are really in the render, and without the declarations each is a missing object
    manifests = result.renders["ext"].manifests
    missing = {f.message.split()[0] for f in references.check(manifests, "t") if f.rule == "REF-MISSING"}
    assert {
        "Secret/flask-registry",
        "Secret/mysql-registry",
        "Secret/nginx-registry",
        "Secret/corp-ca",
        "ServiceAccount/workload-identity",
    } <= missing


def test_a_dangling_reference_is_still_found(tmp_path):
    # a ConfigMap named by a mount the values do not declare anywhere
    values = _file(
        tmp_path,
        "flask:\n  extraVolumeMounts:\n    - name: nowhere\n      mountPath: /x\n"
        "  image:\n    pullSecrets: [flask-registry]\n",
    )
    result = run_gate(
        CHART_DIR, [ValuesSet("dangling", (values,))], ["1.30"], checks=("values", "references")
    )
    assert [(f.rule, f.message) for f in result.findings if f.severity.name == "ERROR"] == [
        ("REF-MISSING", 'volume "nowhere" is not declared in the pod spec')
    ]


def test_a_service_account_the_chart_creates_is_not_external():
    from webstack.values import merged

    externals = references.externals_declared(CHART_DIR, merged(CHART_DIR, ValuesSet("default")))
    assert not [e for e in externals if e.startswith("ServiceAccount/")]


# --- one image shape, digest wins everywhere -------------------------------------------------------------


def test_every_container_of_every_pod_honours_its_blocks_digest(tmp_path):
    blocks = {"flask": "webstack/app", "mysql": "mysql", "nginx": "nginxinc/nginx-unprivileged"}
    values = _file(
        tmp_path,
        yaml.safe_dump(
            {
                "global": {"imageRegistry": "registry.example"},
                "flask": {"image": {"digest": DIGEST}},
                "nginx": {"image": {"digest": DIGEST}},
                "mysql": {
                    "image": {"digest": DIGEST},
                    "metrics": {"enabled": True, "image": {"digest": DIGEST}},
                    "backup": {"enabled": True},
                    "restore": {"enabled": True},
                },
            }
        ),
    )
    manifests = render_all(CHART_DIR, [ValuesSet("digests", (values,))])["digests"].manifests
    images: dict[str, str] = {}
    for m in manifests:
        spec = m.doc.get("spec") or {}
        pod = (
            spec
            if m.kind == "Pod"
            else (spec.get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec")
            or (spec.get("template") or {}).get("spec")
        )
        for c in [*(pod or {}).get("initContainers", []), *(pod or {}).get("containers", [])]:
            images[f"{m.ref}/{c['name']}"] = c["image"]
    assert {
        "Pod/webstack-webstack-test-api/test-api",
        "Job/webstack-flask-migrate/wait-for-database",
        "Job/webstack-mysql-restore/restore",
        "StatefulSet/webstack-mysql/metrics",
    } <= set(images)
    for where, image in images.items():
        assert image.endswith(f"@{DIGEST}") and image.startswith("registry.example/"), (where, image)
    assert images["StatefulSet/webstack-mysql/metrics"] == f"registry.example/prom/mysqld-exporter@{DIGEST}"
    assert images["Pod/webstack-webstack-test-api/test-api"] == f"registry.example/{blocks['flask']}@{DIGEST}"


def test_a_test_image_of_its_own_replaces_the_flask_digest(tmp_path):
    own = _file(tmp_path, f"flask:\n  image:\n    digest: {DIGEST}\ntests:\n  image:\n    tag: '9.9'\n")
    pinned = _file(tmp_path, f"tests:\n  image:\n    repository: tools/py\n    digest: {DIGEST}\n", "p.yaml")
    renders = render_all(CHART_DIR, [ValuesSet("own", (own,)), ValuesSet("pinned", (pinned,))])

    def test_image(name: str) -> str:
        pod = next(m for m in renders[name].manifests if m.kind == "Pod")
        return pod.doc["spec"]["containers"][0]["image"]

    assert test_image("own") == "webstack/app:9.9"
    assert test_image("pinned") == f"tools/py@{DIGEST}"
