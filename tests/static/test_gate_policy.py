"""Policy and reference rules on a fixture chart that breaks each of them on purpose, and waivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack.checks import policy, references
from webstack.manifests import Manifest
from webstack.render import render_all
from webstack.report import Severity
from webstack.values import ValuesSet

pytestmark = pytest.mark.static
GATE = Path(__file__).parents[1] / "fixtures" / "gate"


@pytest.fixture(scope="module")
def bad() -> list[Manifest]:
    return render_all(GATE / "bad-policy", [ValuesSet("default")])["default"].manifests


@pytest.fixture(scope="module")
def demo() -> list[Manifest]:
    return render_all(GATE / "demo", [ValuesSet("default")])["default"].manifests


def _rules(findings, obj):
    return {(f.rule, f.path) for f in findings if f.object == obj and f.severity > Severity.INFO}


C0 = "spec.template.spec.containers[0]"


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ("PSS-RUN-AS-NON-ROOT", f"{C0}.securityContext.runAsNonRoot"),
        ("PSS-RUN-AS-NON-ROOT", f"{C0}.securityContext.runAsUser"),
        ("PSS-PRIVILEGE-ESCALATION", f"{C0}.securityContext.allowPrivilegeEscalation"),
        ("PSS-CAPABILITIES", f"{C0}.securityContext.capabilities.drop"),
        ("PSS-CAPABILITIES", f"{C0}.securityContext.capabilities.add"),
        ("PSS-SECCOMP", f"{C0}.securityContext.seccompProfile.type"),
        ("PSS-HOST-AND-PRIVILEGED", "spec.template.spec.hostNetwork"),
        ("PSS-HOST-AND-PRIVILEGED", f"{C0}.securityContext.privileged"),
        ("PSS-VOLUME-TYPES", "spec.template.spec.volumes[0]"),
        ("SEC-READ-ONLY-ROOT-FS", f"{C0}.securityContext.readOnlyRootFilesystem"),
        ("PROBE-READINESS", f"{C0}.readinessProbe"),
        ("PROBE-LIVENESS", f"{C0}.livenessProbe"),
        ("RESOURCES-REQUESTS", f"{C0}.resources.requests"),
        ("RESOURCES-LIMITS", f"{C0}.resources.limits.memory"),
        ("IMAGE-TAG-PINNED", f"{C0}.image"),
        ("IMAGE-TAG-PINNED", "spec.template.spec.containers[1].image"),
        ("IMAGE-PULL-POLICY", f"{C0}.imagePullPolicy"),
        ("LABELS-RECOMMENDED", "metadata.labels"),
        ("SELECTOR-MATCHES-TEMPLATE", "spec.selector"),
        ("SELECTOR-MATCHES-TEMPLATE", "spec.selector.matchLabels.helm.sh/chart"),
    ],
)
def test_each_workload_rule_fires_on_the_bad_deployment(bad, rule, path):
    assert (rule, path) in _rules(policy.check(bad, "t"), "Deployment/bad")


def test_cross_object_rules(bad):
    found = policy.check(bad, "t")
    assert ("PDB-ALLOWS-EVICTION", "spec.minAvailable") in _rules(found, "PodDisruptionBudget/good")
    assert ("SERVICE-TARGET-PORT", "spec.ports[0].targetPort") in _rules(found, "Service/good")


def test_every_rule_has_an_id_severity_and_one_line_rationale():
    assert len(policy.RULES) >= 17
    for r in policy.RULES.values():
        assert r.id.isupper() and "\n" not in r.rationale and r.rationale


def test_waiver_with_reason_turns_the_finding_into_info(bad):
    good = [f for f in policy.check(bad, "t") if f.object == "Deployment/good"]
    (liveness,) = [f for f in good if f.rule == "PROBE-LIVENESS"]
    assert liveness.severity == Severity.INFO and "queue worker" in liveness.message


def test_waiver_without_reason_is_an_error_and_waives_nothing(bad):
    good = _rules(policy.check(bad, "t"), "Deployment/good")
    assert ("WAIVER-REASON", "metadata.annotations.webstack.io/waive") in good
    assert ("SEC-READ-ONLY-ROOT-FS", f"{C0}.securityContext.readOnlyRootFilesystem") in good
    # and the compliant parts of it are clean
    assert not {r for r, _ in good} & {
        "PSS-RUN-AS-NON-ROOT",
        "PSS-SECCOMP",
        "IMAGE-TAG-PINNED",
        "RESOURCES-REQUESTS",
    }


def test_pdb_is_fine_when_replicas_allow_an_eviction():
    pdb = Manifest(
        "t",
        {
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "p"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}},
        },
    )
    dep = Manifest(
        "t",
        {
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"a": "b"}}}},
        },
    )
    hpa = Manifest(
        "t",
        {
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {"minReplicas": 1, "scaleTargetRef": {"kind": "Deployment", "name": "d"}},
        },
    )
    assert [f.rule for f in policy.check([pdb, dep], "t") if f.rule == "PDB-ALLOWS-EVICTION"] == []
    # an HPA may scale it down to one replica: then the PDB blocks every eviction
    assert "PDB-ALLOWS-EVICTION" in {f.rule for f in policy.check([pdb, dep, hpa], "t")}


def test_compliant_chart_is_clean(demo):
    assert [f for f in policy.check(demo, "t") if f.severity > Severity.INFO] == []
    assert references.check(demo, "t") == []


@pytest.mark.parametrize(
    ("obj", "rule", "path"),
    [
        ("Deployment/bad", "REF-MISSING", "spec.template.spec.serviceAccountName"),
        ("Deployment/bad", "REF-MISSING", "spec.template.spec.volumes[1].persistentVolumeClaim.claimName"),
        ("Deployment/bad", "REF-MISSING", f"{C0}.envFrom[0].configMapRef"),
        ("Deployment/bad", "REF-MISSING", f"{C0}.volumeMounts[0].name"),
        ("Deployment/bad", "REF-KEY-MISSING", f"{C0}.env[0].valueFrom.secretKeyRef"),
        ("HorizontalPodAutoscaler/ghost", "REF-MISSING", "spec.scaleTargetRef"),
        ("Ingress/good", "REF-PORT-MISSING", "spec.rules[0].http.paths[0].backend.service.port"),
        ("NetworkPolicy/nobody", "REF-SELECTS-NOTHING", "spec.podSelector"),
        ("Service/orphan", "REF-SELECTS-NOTHING", "spec.selector"),
    ],
)
def test_each_reference_rule_fires(bad, obj, rule, path):
    assert (rule, path) in _rules(references.check(bad, "t"), obj)


def test_external_declared_by_annotation_value_or_caller(bad):
    found = references.check(bad, "t")
    # Deployment/good names Secret/ext-creds, declared external by its webstack.io/external annotation
    assert not [f for f in found if f.object == "Deployment/good"]
    tls = [f for f in found if f.rule == "REF-TLS-SECRET"]
    assert tls and all(f.severity == Severity.INFO for f in tls)
    again = references.check(bad, "t", {"ServiceAccount/missing-sa", "ConfigMap/missing-config"})
    assert not {("REF-MISSING", "spec.template.spec.serviceAccountName")} & _rules(again, "Deployment/bad")


def test_externals_from_values():
    values = {
        "flask": {"existingSecret": "app-creds", "persistence": {"existingClaim": "data"}},
        "mysql": {"auth": {"existingSecret": {"name": "db-creds"}}, "existingConfigMap": ""},
    }
    assert references.externals_from_values(values) == {
        "Secret/app-creds",
        "PersistentVolumeClaim/data",
        "Secret/db-creds",
    }


def test_existing_secret_value_satisfies_the_reference(tmp_path):
    from webstack.checks import run_gate

    ext = tmp_path / "ext.yaml"
    ext.write_text("web:\n  existingSecret: operator-made\n")
    result = run_gate(GATE / "demo", [ValuesSet("ext", (ext,))], ["1.30"])
    assert result.findings == []
    dep = next(m for m in result.renders["ext"].manifests if m.kind == "Deployment")
    env = dep.doc["spec"]["template"]["spec"]["containers"][0]["env"][0]
    assert env["valueFrom"]["secretKeyRef"]["name"] == "operator-made"
    missing = references.check(result.renders["ext"].manifests, "t")
    assert [(f.rule, f.message.split()[0]) for f in missing] == [("REF-MISSING", "Secret/operator-made")]


def _netpol(*rules: dict) -> Manifest:
    doc = {"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": {"ingress": list(rules)}}
    return Manifest("t", doc)


SELECTOR = {"podSelector": {"matchLabels": {"a": "b"}}}
BLOCK = {"ipBlock": {"cidr": "10.0.0.1/32"}}


def _mixed(*rules: dict) -> list[tuple[str, str]]:
    found = policy.check([_netpol(*rules)], "t")
    return [(f.path, f.message) for f in found if f.rule == "NETPOL-MIXED-PEERS"]


def test_a_rule_mixing_selector_and_ipblock_peers_on_a_named_port_is_flagged():
    named = [{"port": "http", "protocol": "TCP"}]
    [(path, message)] = _mixed({"ports": [{"port": 80}]}, {"ports": named, "from": [SELECTOR, BLOCK]})
    assert path == "spec.ingress[1].from" and "http" in message and "rule of their own" in message


@pytest.mark.parametrize(
    "rules",
    [
        ({"ports": [{"port": "http"}], "from": [SELECTOR]}, {"ports": [{"port": "http"}], "from": [BLOCK]}),
        ({"ports": [{"port": 8080}], "from": [SELECTOR, BLOCK]},),  # numeric: no named-port address set
        ({"from": [SELECTOR, BLOCK]},),
        ({"ports": [{"port": "http"}], "from": [BLOCK, BLOCK]},),
    ],
    ids=["split", "numeric-port", "no-ports", "blocks-only"],
)
def test_split_or_unnamed_rules_are_not_flagged(rules):
    assert _mixed(*rules) == []
