"""The node tier: a real single-node Kubernetes per module (kubelet, containerd, runc in a private
network namespace; images built here) and real helm. Containers really run.

A machine where the node cannot run fails the tier loudly (never skips): deselect it explicitly
(`-m "not node"`) if you mean not to run it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from webstack.cluster.kube import Kube, connect
from webstack.cluster.node import NodeCluster


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    cluster = NodeCluster()
    try:
        cluster.start()
    except Exception as exc:  # the tier cannot run without its cluster: fail, never skip
        pytest.fail(f"the node cluster could not start, so the node tier cannot run: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop(keep_logs_in=tmp_path_factory.mktemp("node-logs"))


@pytest.fixture(scope="module")
def kube(node_cluster: NodeCluster) -> Iterator[Kube]:
    k = connect(node_cluster.kubeconfig, node_cluster.context)
    yield k
    k.close()
