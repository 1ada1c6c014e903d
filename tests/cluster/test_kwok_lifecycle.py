"""The kwok cluster itself and the release lifecycle on it (one cluster for the whole module)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cluster_helpers import FIXTURES
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webstack.cluster import kube as kubemod
from webstack.cluster import scenario as scen
from webstack.cluster.kube import Kube
from webstack.cluster.kwok import STORAGE_CLASS, KwokCluster
from webstack.errors import ClusterError
from webstack.lifecycle import Lifecycle
from webstack.paths import CHART_DIR
from webstack.report import Step

RESTRICTED = {
    "security_context": client.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=10001,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    ),
}
CONTAINER_SC = client.V1SecurityContext(
    allow_privilege_escalation=False, capabilities=client.V1Capabilities(drop=["ALL"])
)


def eventually(fn: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


def pod(name: str, **meta: object) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, **meta),  # type: ignore[arg-type]
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(name="c", image="webstack/app:1.0.0", security_context=CONTAINER_SC)
            ],
            **RESTRICTED,
        ),
    )


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    kubemod.create_namespace(kube, "stages")
    return "stages"


def test_control_plane_is_the_pinned_release_on_loopback(kwok_cluster: KwokCluster, kube: Kube) -> None:
    assert kubemod.server_version(kube) == "v1.36.1"
    assert kube.api.configuration.host.startswith("https://127.0.0.1:")
    assert set(kwok_cluster.pids()) >= {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok-controller",
    }
    nodes = kube.core.list_node().items
    assert [n.metadata.name for n in nodes] == ["kwok-node-0"]
    assert any(c.type == "Ready" and c.status == "True" for c in nodes[0].status.conditions)
    # nothing leaks to the user's home: kwokctl's workdir and kubeconfig are in the private folder
    assert kwok_cluster.root is not None and kwok_cluster.kubeconfig.is_relative_to(kwok_cluster.root)


def test_stages_run_pods_jobs_hooks_and_bind_claims(kube: Kube, ns: str) -> None:
    kube.core.create_namespaced_pod(ns, pod("plain"))
    kube.core.create_namespaced_pod(ns, pod("hook", annotations={"helm.sh/hook": "test"}))
    kube.batch.create_namespaced_job(
        ns,
        client.V1Job(
            metadata=client.V1ObjectMeta(name="migrate"),
            spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(spec=pod("x").spec)),
        ),
    )
    kube.core.create_namespaced_persistent_volume_claim(
        ns,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="data"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        ),
    )

    def phase(name: str) -> str:
        return str(kube.core.read_namespaced_pod(name, ns).status.phase)

    eventually(lambda: phase("plain") == "Running", "a plain pod Running")
    ready = kube.core.read_namespaced_pod("plain", ns).status
    assert all(cs.ready for cs in ready.container_statuses) and ready.pod_ip
    eventually(lambda: phase("hook") == "Succeeded", "a helm hook pod Succeeded")
    eventually(
        lambda: any(
            c.type == "Complete" and c.status == "True"
            for c in (kube.batch.read_namespaced_job("migrate", ns).status.conditions or [])
        ),
        "the Job Complete",
    )
    eventually(
        lambda: kube.core.read_namespaced_persistent_volume_claim("data", ns).status.phase == "Bound",
        "the claim Bound",
    )
    claim = kube.core.read_namespaced_persistent_volume_claim("data", ns)
    assert claim.spec.storage_class_name == STORAGE_CLASS  # the default class, unset in the claim
    assert phase("plain") == "Running"  # a plain pod never "completes"


def test_restricted_namespace_rejects_a_privileged_pod(kube: Kube, ns: str) -> None:
    bad = pod("root")
    bad.spec.security_context = None
    bad.spec.containers[0].security_context = client.V1SecurityContext(privileged=True)
    with pytest.raises(ApiException) as err:
        kube.core.create_namespaced_pod(ns, bad)
    assert err.value.status == 403 and "violates PodSecurity" in err.value.body


def test_a_namespace_that_is_not_ours_is_refused_and_left_alone(kube: Kube) -> None:
    kube.core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="someone-elses", labels={"team": "payments"}))
    )
    with pytest.raises(ClusterError, match="already exists and was not created by webstack"):
        kubemod.create_namespace(kube, "someone-elses")
    with pytest.raises(ClusterError, match="refusing to delete"):
        kubemod.delete_namespaces(kube, ["someone-elses"])
    still = kube.core.read_namespace("someone-elses")
    assert still.metadata.labels == {"team": "payments", "kubernetes.io/metadata.name": "someone-elses"}


def results(steps: list[Step]) -> dict[str, str]:
    return {s.name: s.result for s in steps}


def explain(steps: list[Step]) -> str:
    return "\n".join(f"{s.name}: {s.result} ({s.seconds:.1f}s) {s.detail}" for s in steps)


def run_lifecycle(
    cluster: KwokCluster, scenario: scen.Scenario, namespace: str, tmp_path: Path, base_ref: str = "HEAD"
) -> list[Step]:
    life = Lifecycle(cluster, scenario, namespace, tmp_path, base_ref)
    try:
        return life.run()
    finally:
        life.close()


def test_fixture_chart_full_lifecycle(kwok_cluster: KwokCluster, kube: Kube, tmp_path: Path) -> None:
    """The whole lifecycle through the existing provider (this kwok cluster, reached by kubeconfig).

    The existing provider deletes the namespaces it made at the end, and nobody else's.
    """
    from webstack.cluster.existing import ExistingCluster

    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="bystander")))
    existing = ExistingCluster(kwok_cluster.kubeconfig, kwok_cluster.context)
    existing.start()
    existing.runs_containers = False  # kwok underneath: no HTTP to check
    life = Lifecycle(existing, scen.load(FIXTURES / "scenario.yaml"), "fx-life", tmp_path)
    try:
        steps = life.run()
        by = {s.name: s for s in steps}
        expected = {
            "namespace",
            "install",
            "helm test",
            "assert installed",
            "upgrade",
            "assert upgraded",
            "rollback",
            "assert rolled back",
            "bad upgrade",
            "uninstall",
        }
        assert {n for n, r in results(steps).items() if r == "passed"} >= expected, explain(steps)
        assert by["http checks"].result == "skipped" and "no containers" in by["http checks"].detail
        inside = by["in-container checks"]
        assert inside.result == "skipped" and "existing runs no containers" in inside.detail
        # revision bookkeeping: 1 install, 2 upgrade, 3 rollback, 4 failed, 5 automatic rollback
        assert "rolled: Deployment/fx-web (checksum/config, image app:1.0.1)" in by["assert upgraded"].detail
        assert "revision 4 failed" in by["bad upgrade"].detail and "revision 5" in by["bad upgrade"].detail
        assert "app 1.0.0 -> 1.0.1" in by["upgrade"].detail
        # the chart keeps its Secret (resource-policy) and the StatefulSet's claim: both listed with why
        assert "Secret/fx-db: annotated helm.sh/resource-policy: keep" in by["uninstall"].detail
        assert "PersistentVolumeClaim/data-fx-db-0: volumeClaimTemplate" in by["uninstall"].detail
        kept = {s.metadata.name for s in kube.core.list_namespaced_secret("fx-life").items} | {
            c.metadata.name for c in kube.core.list_namespaced_persistent_volume_claim("fx-life").items
        }
        assert kept == {"fx-db", "data-fx-db-0"}
    finally:
        life.close()
    names = {n.metadata.name for n in kube.core.list_namespace().items}
    assert "fx-life" not in names and "fx-life-base" not in names
    assert "bystander" in names


def test_upgrade_from_a_base_ref_without_the_chart_is_skipped_with_the_reason(
    kwok_cluster: KwokCluster, tmp_path: Path
) -> None:
    from webstack import versioning

    first = (
        __import__("subprocess")
        .run(
            ["git", "rev-list", "--max-parents=0", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=FIXTURES,
        )
        .stdout.split()[0]
    )
    with pytest.raises(versioning.ChartNotAtRef, match="does not exist at"):
        versioning.chart_at_ref(CHART_DIR, first, tmp_path)
    with pytest.raises(versioning.RefNotFound, match="not a commit"):
        versioning.chart_at_ref(CHART_DIR, "no-such-ref", tmp_path)


def test_a_chart_that_never_gets_ready_is_diagnosed(kwok_cluster: KwokCluster, tmp_path: Path) -> None:
    """Pods that violate the restricted standard are refused: install times out, and says why."""
    chart = tmp_path / "chart"
    shutil.copytree(FIXTURES / "chart", chart)
    helpers = chart / "templates" / "_helpers.tpl"
    helpers.write_text(
        helpers.read_text().replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    )
    scenario = scen.Scenario(
        source=tmp_path / "s.yaml", chart=chart, release="broken", timeout="8s", bad_values={"x": 1}
    )
    steps = run_lifecycle(kwok_cluster, scenario, "broken", tmp_path / "work")
    by = {s.name: s for s in steps}
    assert by["install"].result == "failed", explain(steps)
    assert "Deployment/broken-web: 0/2 available" in by["install"].detail
    assert "violates PodSecurity" in by["install"].detail  # the FailedCreate event, verbatim
    assert by["upgrade"].result == "skipped" and "install failed" in by["upgrade"].detail
    assert by["uninstall"].result in ("passed", "failed")  # the release is removed either way


def test_smoke_refuses_a_namespace_it_did_not_create(kwok_cluster: KwokCluster, tmp_path: Path) -> None:
    steps = run_lifecycle(kwok_cluster, scen.load(FIXTURES / "scenario.yaml"), "default", tmp_path)
    assert steps[0].name == "namespace" and steps[0].result == "failed"
    assert "namespace 'default' already exists and was not created by webstack" in steps[0].detail
    assert all(s.result == "skipped" for s in steps[1:]), explain(steps)  # nothing installed anywhere


def test_real_chart_full_lifecycle(kwok_cluster: KwokCluster, tmp_path: Path) -> None:
    scenario = scen.load(scen.DEFAULT_SCENARIO)
    steps = run_lifecycle(kwok_cluster, scenario, "webstack-life", tmp_path)
    failed = [s for s in steps if s.result == "failed"]
    assert not failed, explain(steps)
    assert results(steps)["install"] == "passed"
    assert results(steps)["in-container checks"] == "skipped"  # reported, with its reason, not absent


def test_in_container_targets_are_read_from_the_api(kube: Kube, ns: str) -> None:
    """What the in-container checks expect comes from the live objects (kwok: pods without containers).

    Only the expectations are checked here; the checks themselves need real containers (kind/existing).
    """
    from webstack.cluster import incontainer

    kube.core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="proxy"), data={"nginx.conf": "events {}\n"})
    )
    kube.core.create_namespaced_secret(
        ns, client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"password": "s3cret"})
    )
    template = pod("unused")
    container = template.spec.containers[0]
    container.ports = [
        client.V1ContainerPort(container_port=8080),
        client.V1ContainerPort(container_port=8081),
    ]
    container.security_context = client.V1SecurityContext(
        allow_privilege_escalation=False,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        read_only_root_filesystem=True,
    )
    container.volume_mounts = [
        client.V1VolumeMount(
            name="conf", mount_path="/etc/nginx/nginx.conf", sub_path="nginx.conf", read_only=True
        ),
        client.V1VolumeMount(name="creds", mount_path="/etc/creds", read_only=True),
    ]
    template.spec.volumes = [
        client.V1Volume(name="conf", config_map=client.V1ConfigMapVolumeSource(name="proxy")),
        client.V1Volume(name="creds", secret=client.V1SecretVolumeSource(secret_name="creds")),
    ]
    template.spec.restart_policy = "Always"
    labels = {"app.kubernetes.io/name": "nginx", "app.kubernetes.io/instance": "tgt"}
    kube.apps.create_namespaced_deployment(
        ns,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="tgt-nginx"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=template.spec
                ),
            ),
        ),
    )
    eventually(
        lambda: (kube.apps.read_namespaced_deployment("tgt-nginx", ns).status.available_replicas or 0) == 1,
        "the Deployment available",
    )
    (target,) = incontainer.targets(kube, ns)
    assert target.workload == "Deployment/tgt-nginx" and target.pod.startswith("tgt-nginx-")
    assert (target.container, target.uid, target.gid, target.read_only_root) == ("c", 10001, None, True)
    assert target.ports == (8080, 8081)
    conf, creds = target.mounts
    assert conf.files == (
        incontainer.ConfigFile("/etc/nginx/nginx.conf", "ConfigMap/proxy:nginx.conf", "events {}\n"),
    )
    assert creds.files == (incontainer.ConfigFile("/etc/creds/password", "Secret/creds:password", None),)
    assert conf.declared_read_only and creds.declared_read_only


def test_a_chart_without_a_test_pod_fails_helm_test(kwok_cluster: KwokCluster, tmp_path: Path) -> None:
    """`helm test` on a chart with no test hook prints `TEST SUITE: None`: nothing tested, not a pass."""
    chart = tmp_path / "chart"
    shutil.copytree(FIXTURES / "chart", chart)
    shutil.rmtree(chart / "templates" / "tests")
    scenario = scen.Scenario(source=tmp_path / "s.yaml", chart=chart, release="untested", timeout="60s")
    life = Lifecycle(kwok_cluster, scenario, "untested", tmp_path / "work")
    try:
        life.step("namespace", life.do_namespace, critical=True)
        life.step("install", life.do_install, critical=True)
        test = life.step("helm test", life.do_test)
        life.blocked = ""
        life.step("uninstall", life.do_uninstall)
    finally:
        life.close()
    assert [s.result for s in life.steps] == ["passed", "passed", "failed", "passed"], explain(life.steps)
    assert "helm test found no test pod" in test.detail
