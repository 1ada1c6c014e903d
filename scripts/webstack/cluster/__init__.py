"""Clusters to test the chart on: one interface, four providers.

- node: a real single-node Kubernetes in a private network namespace (kubelet, containerd, runc),
  images built here: the chart's containers really run. The default where it can run.
- kwok: a real kube-apiserver, controller-manager, scheduler and etcd (built locally, see
  webstack.toolchain), kwok simulating nodes, pods and volumes. API fidelity in seconds, no Docker.
- kind: full fidelity (real containers) where Docker can run privileged containers.
- existing: the current kubeconfig context; we only ever touch namespaces we created.

Every provider is used the same way: start(), then kubeconfig/context for helm and the
Kubernetes client, load_images() where the cluster runs images, stop() always (idempotent).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

PROVIDERS = ("node", "kwok", "kind", "existing")
MAX_NODES = 3  # the node provider's limit (webstack.cluster.node.configs.MAX_NODES)


class Cluster(Protocol):
    name: str
    provider: str
    # True when pods really run (node, kind, existing): HTTP smoke through nginx makes sense there.
    runs_containers: bool

    @property
    def kubeconfig(self) -> Path: ...

    @property
    def context(self) -> str | None: ...

    def start(self) -> None: ...

    def load_images(self, images: list[str]) -> None: ...

    def stop(self, keep_logs_in: Path | None = None) -> None: ...


def chart_values(cluster: Cluster) -> dict[str, object]:
    """Values a provider needs the chart to use (the node's image overlay); {} for most."""
    fn = getattr(cluster, "chart_values", None)
    return fn() if fn else {}


def private_dir(prefix: str) -> Path:
    """A new private temporary folder (under $WEBSTACK_TMP when set: tests use it to prove cleanup)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("WEBSTACK_TMP")))


def check_nodes(provider: str, nodes: int) -> None:
    """InputError unless `nodes` suits `provider` (only the node provider starts more than one)."""
    from webstack.errors import InputError

    if not 1 <= nodes <= MAX_NODES:
        raise InputError(f"--nodes {nodes}: expected 1 to {MAX_NODES}")
    if nodes != 1 and provider != "node":
        raise InputError(f"--nodes {nodes} needs --provider node: the {provider} provider runs the nodes "
                         "it has (drop --nodes, or use --provider node)")


def make(provider: str, name: str | None = None, nodes: int = 1, **options: object) -> Cluster:
    """A cluster object for `provider` (not started yet); `nodes` > 1 for the node provider only."""
    check_nodes(provider, nodes)
    if provider == "node":
        from webstack.cluster.node import NodeCluster

        return NodeCluster(name=name, nodes=nodes, **options)  # type: ignore[arg-type]
    if provider == "kwok":
        from webstack.cluster.kwok import KwokCluster

        return KwokCluster(name=name, **options)  # type: ignore[arg-type]
    if provider == "kind":
        from webstack.cluster.kind import KindCluster

        return KindCluster(name=name, **options)  # type: ignore[arg-type]
    if provider == "existing":
        from webstack.cluster.existing import ExistingCluster

        return ExistingCluster(**options)  # type: ignore[arg-type]
    from webstack.errors import InputError

    raise InputError(f"unknown cluster provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
