"""The cluster tier: one real kwok cluster per test module (real etcd, kube-apiserver,
controller-manager, scheduler; kwok simulating nodes, pods and volumes) and real helm.

Missing binaries fail the tier loudly: run `make setup` (they are built once and cached).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from webstack.cluster.kube import Kube, connect
from webstack.cluster.kwok import KwokCluster


@pytest.fixture(scope="module")
def kwok_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwokCluster]:
    cluster = KwokCluster()
    try:
        cluster.start()
    except Exception as exc:  # the tier cannot run without its cluster: fail, never skip
        pytest.fail(f"the kwok cluster could not start, so the cluster tier cannot run: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        logs = tmp_path_factory.mktemp("kwok-logs")
        cluster.stop(keep_logs_in=logs)


@pytest.fixture(scope="module")
def kube(kwok_cluster: KwokCluster) -> Iterator[Kube]:
    k = connect(kwok_cluster.kubeconfig, kwok_cluster.context)
    yield k
    k.close()
