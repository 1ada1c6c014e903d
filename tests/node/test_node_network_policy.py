"""NetworkPolicy really enforced on the real node (kube-router), proven from real pods.

The chart is installed with its default policies and the lifecycle's "network policy" step runs
against it; then the policies are switched off and the same unlabelled pod reaches MySQL and the
app: the blocks the step saw were the policies' doing, not a dead server or a broken probe pod.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from webstack.cluster import scenario as scen
from webstack.cluster.node import NodeCluster
from webstack.cluster.node.configs import FIRST_NODE, NODE_IP
from webstack.lifecycle import netpol_steps
from webstack.lifecycle.base import Skip
from webstack.lifecycle.release_steps import Lifecycle
from webstack.values import merge

OFF = {"mysql": {"networkPolicy": {"enabled": False}}, "flask": {"networkPolicy": {"enabled": False}}}


@pytest.fixture(scope="module")
def life(node_cluster: NodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    scenario = scen.load(scen.DEFAULT_SCENARIO)
    scenario = dataclasses.replace(scenario, install=merge(scenario.install, node_cluster.chart_values()))
    lc = Lifecycle(node_cluster, scenario, "netpol", Path(tmp_path_factory.mktemp("netpol")))
    try:
        lc.do_namespace()
        lc.do_install()
        yield lc
    finally:
        lc.close()


def test_kube_router_runs_in_the_node_namespace(node_cluster: NodeCluster) -> None:
    procs = [name for name in node_cluster.procs if name.startswith("kube-router")]
    assert procs and all(node_cluster.procs[p].alive() for p in procs), node_cluster.diagnostics()


def test_policies_hold_from_real_pods(life: Lifecycle) -> None:
    detail = netpol_steps.prove(life)
    print(detail)
    assert "kube-router enforced flask, mysql's NetworkPolicy" in detail
    for source, target, verdict in [
        ("flask pod", "mysql", "open"), ("nginx pod", "mysql", "blocked"),
        ("nginx pod", "flask", "open"), ("probe with flask's labels", "mysql", "open"),
        ("probe with the backup Job's labels", "mysql", "open"),
        ("unlabelled probe", "mysql", "blocked"), ("unlabelled probe", "flask", "blocked"),
        ("unlabelled probe", "nginx", "open"),
    ]:
        pattern = rf"{re.escape(source)} -> {target} [\d.:]+: {verdict}"
        assert re.search(pattern, detail), (source, target, detail)



def test_the_enforcer_restarts_cleanly_with_an_ipblock_peer_and_no_nginx(
        life: Lifecycle, node_cluster: NodeCluster) -> None:
    """Regression (seen in CI on two nodes): an ipBlock peer beside the nginx selector, on the named
    http port. kube-router names one address set per rule and named port: hash:ip while nginx pods
    exist, hash:net when none do. Were both peers in one rule, the restart below (nginx gone, set
    left by the first process) would fail every sync with "set with the same name already exists";
    the chart gives ipBlocks a rule of their own."""
    values = merge(life.scenario.install, {"flask": {"networkPolicy": {"extraFrom": [
        {"ipBlock": {"cidr": f"{NODE_IP}/32"}}]}}})
    life.upgrade(life.scenario.chart, values, timeout=life.scenario.timeout)
    node_cluster.restart_enforcer(FIRST_NODE)  # its sets are made with nginx's pods there
    without_nginx = merge(values, {"nginx": {"enabled": False}})
    life.upgrade(life.scenario.chart, without_nginx, timeout=life.scenario.timeout)
    nginx = "app.kubernetes.io/name=nginx"
    deadline = time.monotonic() + 120
    while life.k.core.list_namespaced_pod(life.namespace, label_selector=nginx).items:
        assert time.monotonic() < deadline, "nginx's pods were not gone within 120s"
        time.sleep(0.5)
    node_cluster.restart_enforcer(FIRST_NODE)  # raises ClusterError naming kube-router's failed sync
    life.upgrade(life.scenario.chart, values, timeout=life.scenario.timeout)
    assert "kube-router enforced" in netpol_steps.prove(life)

def test_without_the_policies_the_same_pod_gets_through(life: Lifecycle) -> None:
    """The control: the blocks above were the policies' (switching them off opens both ports)."""
    life.upgrade(life.scenario.chart, merge(life.scenario.install, OFF), timeout=life.scenario.timeout)
    with pytest.raises(Skip, match="renders no NetworkPolicy for flask or MySQL"):
        netpol_steps.prove(life)
    pods = {c: netpol_steps._running(life, life.namespace, life.scenario.release, sel)
            for c, sel in netpol_steps.SELECTORS.items()}
    addr = {"mysql": f"{pods['mysql'].status.pod_ip}:{netpol_steps._port(pods['mysql'], 'mysql')}",
            "flask": f"{pods['flask'].status.pod_ip}:{netpol_steps._port(pods['flask'], 'http')}"}
    checks = netpol_steps._run(life, life.namespace, pods["flask"].spec.containers[0].image,
                               [("unlabelled probe", {}, [("mysql", True), ("flask", True)])], addr)
    assert [c.result for c in checks] == ["open", "open"], [str(c) for c in checks]
