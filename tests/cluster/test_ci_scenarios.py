"""Every charts/webstack/ci/*-values.yaml, installed for real on the module's kwok cluster.

One release at a time, each in a fresh namespace of ours enforcing the restricted Pod Security
Standard: what the values say exists outside the chart (existing Secrets, claims, registry and TLS
Secrets) is created first, with exactly the keys the rendered pods read (the matrix's own
webstack.lifecycle.prerequisites); then install (wait),
`helm test`, the health assertions, uninstall and the namespace deleted. The steps are the
lifecycle's own (webstack.lifecycle.Lifecycle); a new ci file is covered by being there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from webstack.checks.references import externals_from_values
from webstack.cluster import scenario as scen
from webstack.cluster.kube import Kube, delete_namespaces
from webstack.cluster.kwok import KwokCluster
from webstack.lifecycle import Failed, Lifecycle, prerequisites
from webstack.paths import CHART_DIR
from webstack.render import RELEASE, render_all
from webstack.report import Step
from webstack.servers import wait_until
from webstack.values import ValuesSet, load, merged, set_name

CI_FILES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
WORKLOADS = ("Deployment", "StatefulSet")


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A real self-signed certificate and key (openssl), for the Ingress TLS Secrets."""
    return prerequisites.tls_pair(tmp_path_factory.mktemp("tls"))


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
    ext = prerequisites.externals(
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
    life.step("external objects", lambda: prerequisites.create(life.k, ns, ext, tls_pair), critical=True)
    life.step("CRDs", lambda: prerequisites.install_needed_crds(life.k, render.manifests), critical=True)
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
