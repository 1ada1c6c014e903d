"""Every charts/webstack/ci/*-values.yaml, installed for real on the module's kwok cluster.

One release at a time, each in a fresh namespace of ours enforcing the restricted Pod Security
Standard: what the values say exists outside the chart (existing Secrets, claims, registry and TLS
Secrets) is created first, with exactly the keys the rendered pods read; then install (wait),
`helm test`, the health assertions, uninstall and the namespace deleted. The steps are the
lifecycle's own (webstack.lifecycle.Lifecycle); a new ci file is covered by being there.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client

from webstack.checks import crds
from webstack.checks.references import externals_from_values, pod_refs
from webstack.cluster import scenario as scen
from webstack.cluster.kube import Kube, delete_namespaces, install_crds
from webstack.cluster.kwok import KwokCluster
from webstack.lifecycle import Failed, Lifecycle
from webstack.manifests import Manifest, join, pod_template, pod_template_path
from webstack.paths import CHART_DIR
from webstack.render import RELEASE, render_all
from webstack.report import Step
from webstack.servers import wait_until
from webstack.values import ValuesSet, load, merged, set_name

CI_FILES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
WORKLOADS = ("Deployment", "StatefulSet")


@dataclass
class Externals:
    """What must exist in the namespace before the install: Kind/name -> keys the pods read."""

    secrets: dict[str, set[str]] = field(default_factory=dict)
    pull_secrets: set[str] = field(default_factory=set)
    tls_secrets: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    config_maps: dict[str, set[str]] = field(default_factory=dict)
    service_accounts: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        return sorted(
            [f"Secret/{n}" for n in {*self.secrets, *self.pull_secrets, *self.tls_secrets}]
            + [f"PersistentVolumeClaim/{n}" for n in self.claims]
            + [f"ConfigMap/{n}" for n in self.config_maps]
            + [f"ServiceAccount/{n}" for n in self.service_accounts]
        )


def externals(manifests: list[Manifest], declared: set[str]) -> Externals:
    """The objects the values declare external, with the keys the rendered pods reference in them."""
    ext = Externals()
    for m in manifests:
        tpl = pod_template(m)
        if tpl is None:
            continue
        spec = tpl.get("spec") or {}
        for path, kind, name, key in pod_refs(join(pod_template_path(m), "spec"), spec):
            if f"{kind}/{name}" not in declared:
                continue  # rendered by the chart itself
            if kind == "Secret" and ".imagePullSecrets[" in path:
                ext.pull_secrets.add(name)
            elif kind == "Secret":
                ext.secrets.setdefault(name, set()).update({key} if key else set())
            elif kind == "ConfigMap":
                ext.config_maps.setdefault(name, set()).update({key} if key else set())
            elif kind == "PersistentVolumeClaim":
                ext.claims.add(name)
            elif kind == "ServiceAccount":
                ext.service_accounts.add(name)
    rendered = {m.ref for m in manifests}
    for m in manifests:
        if m.kind == "Ingress":
            for tls in (m.doc.get("spec") or {}).get("tls") or []:
                if (name := tls.get("secretName")) and f"Secret/{name}" not in rendered:
                    ext.tls_secrets.add(name)  # cert-manager's job in production
    return ext


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A real self-signed certificate and key (openssl), for the Ingress TLS Secrets."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=webstack.example.com", "-keyout", str(d / "tls.key"),
         "-out", str(d / "tls.crt")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (d / "tls.crt").read_bytes(), (d / "tls.key").read_bytes()


def create_externals(kube: Kube, ns: str, ext: Externals, tls: tuple[bytes, bytes]) -> str:
    """Create every external object (random passwords), and wait until the claims are Bound."""

    def meta(name: str) -> client.V1ObjectMeta:
        return client.V1ObjectMeta(name=name, labels={"webstack.test/made-by": "test_ci_scenarios"})

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    for name, keys in ext.secrets.items():
        data = {k: b64(secrets.token_urlsafe(18).encode()) for k in keys}
        kube.core.create_namespaced_secret(ns, client.V1Secret(metadata=meta(name), type="Opaque", data=data))
    for name in ext.pull_secrets - set(ext.secrets):
        config = json.dumps({"auths": {"registry.invalid": {"auth": b64(b"ci:unused")}}}).encode()
        kube.core.create_namespaced_secret(
            ns,
            client.V1Secret(
                metadata=meta(name),
                type="kubernetes.io/dockerconfigjson",
                data={".dockerconfigjson": b64(config)},
            ),
        )
    for name in ext.tls_secrets:
        kube.core.create_namespaced_secret(
            ns,
            client.V1Secret(
                metadata=meta(name),
                type="kubernetes.io/tls",
                data={"tls.crt": b64(tls[0]), "tls.key": b64(tls[1])},
            ),
        )
    for name, keys in ext.config_maps.items():
        kube.core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=meta(name), data={k: "" for k in keys})
        )
    for name in ext.service_accounts:
        kube.core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=meta(name)))
    for name in ext.claims:
        kube.core.create_namespaced_persistent_volume_claim(
            ns,
            client.V1PersistentVolumeClaim(
                metadata=meta(name),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
                ),
            ),
        )
    for name in ext.claims:
        wait_until(
            lambda n=name: kube.core.read_namespaced_persistent_volume_claim(n, ns).status.phase == "Bound",
            30,
            f"PersistentVolumeClaim/{name} Bound",
        )
    return ", ".join(ext.names()) or "none needed"


def install_needed_crds(kube: Kube, manifests: list[Manifest]) -> str:
    """The pinned CRDs (cached by `webstack setup`, e.g. Gateway API's for an HTTPRoute) of every
    custom resource the render makes, installed into the cluster before the release."""
    mods = {mod for m in manifests if (mod := crds.pinned_module_for(m.doc.get("apiVersion", "")))}
    names = [n for mod in sorted(mods, key=lambda mod: mod.module)
             for n in install_crds(kube, crds.manifests(mod))]
    return ", ".join(names) or "none needed"


def explain(steps: list[Step]) -> str:
    return "\n".join(f"{s.name}: {s.result} ({s.seconds:.1f}s) {s.detail}" for s in steps)


@pytest.fixture(scope="module")
def deleting(kube: Kube) -> Iterator[list[str]]:
    """Namespaces the tests deleted; gone by the end of the module (not waited for one by one).

    The namespace controller waits 5 s before it even starts on a deleted namespace (to let HA
    API servers see the deletion), so each test deletes its namespace and the next one proceeds.
    """
    names: list[str] = []
    yield names

    def all_gone() -> bool:
        return not set(names) & {n.metadata.name for n in kube.core.list_namespace().items}

    wait_until(all_gone, 90, f"namespaces {', '.join(names)} deleted")


@pytest.fixture
def lifecycle(
    kwok_cluster: KwokCluster,
    kube: Kube,
    deleting: list[str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Lifecycle]:
    values_file: Path = request.param
    ns = f"ci-{set_name(values_file)}"[:63].rstrip("-")
    scenario = scen.Scenario(
        source=values_file, chart=CHART_DIR, release=RELEASE, timeout="60s", install=load(values_file).data
    )
    life = Lifecycle(kwok_cluster, scenario, ns, tmp_path)
    try:
        yield life
    finally:
        life.close()
        if ns in life.namespaces:  # only ever the namespace this test created
            deleting += delete_namespaces(kube, [ns], wait=0)


@pytest.mark.parametrize("lifecycle", CI_FILES, ids=[p.name for p in CI_FILES], indirect=True)
def test_ci_values_install_pass_helm_test_and_uninstall(
    lifecycle: Lifecycle, kube: Kube, tls_pair: tuple[bytes, bytes]
) -> None:
    life, ns = lifecycle, lifecycle.namespace
    values_file = life.scenario.source
    (render,) = render_all(
        CHART_DIR, [ValuesSet(set_name(values_file), (values_file,))], namespace=ns
    ).values()
    ext = externals(
        render.manifests, externals_from_values(merged(CHART_DIR, ValuesSet("ci", (values_file,))))
    )
    want_workloads = sorted(m.ref for m in render.manifests if m.kind in WORKLOADS and not m.is_hook)
    want_hook_jobs = sorted(
        m.name
        for m in render.manifests
        if m.kind == "Job" and "test" not in m.annotations.get("helm.sh/hook", "")
    )
    seen: dict[str, object] = {}

    def check_release() -> str:
        rev = life.revision()
        seen["status"] = rev.status
        seen["hooks"] = {h.name: h.phase for h in rev.hooks() if h.kind == "Job"}
        live = [f"Deployment/{d.metadata.name}" for d in kube.apps.list_namespaced_deployment(ns).items]
        live += [f"StatefulSet/{s.metadata.name}" for s in kube.apps.list_namespaced_stateful_set(ns).items]
        seen["workloads"] = sorted(live)
        if seen["status"] != "deployed" or seen["workloads"] != want_workloads:
            raise Failed(f"release {seen['status']}, workloads {live}; rendered {want_workloads}")
        return f"deployed; {len(live)} workloads; hook Jobs {seen['hooks']}"

    life.step("namespace", life.do_namespace, critical=True)
    life.step("external objects", lambda: create_externals(life.k, ns, ext, tls_pair), critical=True)
    life.step("CRDs", lambda: install_needed_crds(life.k, render.manifests), critical=True)
    life.step("install", life.do_install, critical=True)
    life.step("helm test", life.do_test)
    life.step("assert installed", life.do_assert_install)  # workloads available, hooks Succeeded, ...
    life.step("release", check_release)
    if life.installed:
        life.blocked = ""  # whatever failed, the release must go
    life.step("uninstall", life.do_uninstall)

    steps = life.steps
    assert [s.name for s in steps if s.result != "passed"] == [], explain(steps)
    labels = kube.core.read_namespace(ns).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert seen["status"] == "deployed"
    assert want_workloads and seen["workloads"] == want_workloads
    # the hook Jobs the values render (the migration, a restore) all ran and completed
    assert seen["hooks"] == dict.fromkeys(want_hook_jobs, "Succeeded"), explain(steps)
    # what the scenario needed from outside was there before, and is still there after uninstall
    assert sorted(life.preexisting) == ext.names()
    left = {s.metadata.name for s in kube.core.list_namespaced_secret(ns).items}
    assert {n.split("/", 1)[1] for n in ext.names() if n.startswith("Secret/")} <= left
