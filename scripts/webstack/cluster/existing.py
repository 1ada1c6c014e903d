"""The existing provider: whatever cluster a kubeconfig context points at (a real one: pods run).

Nothing is started or stopped; start() only proves the API server answers. The lifecycle works in
namespaces it creates and marks (webstack.cluster.kube.OWNER_LABEL) and never touches others.
"""

from __future__ import annotations

import os
from pathlib import Path

from webstack.cluster.kube import connect
from webstack.errors import ClusterError


def default_kubeconfig() -> Path:
    """$KUBECONFIG (its first entry), else ~/.kube/config: where kubectl would look."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


class ExistingCluster:
    provider = "existing"
    runs_containers = True

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None) -> None:
        self._kubeconfig = Path(kubeconfig) if kubeconfig else default_kubeconfig()
        self._context = context
        self.name = context or "current-context"

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def context(self) -> str | None:
        return self._context

    def start(self) -> None:
        if not self._kubeconfig.is_file():
            raise ClusterError(
                f"kubeconfig {self._kubeconfig} does not exist: set KUBECONFIG or pass "
                "--kubeconfig (the existing provider uses a cluster you already have)"
            )
        connect(self._kubeconfig, self._context).close()

    def load_images(self, images: list[str]) -> None:
        """The cluster pulls images itself; they must be in a registry it can reach."""

    def stop(self, keep_logs_in: Path | None = None) -> None:
        """Nothing to stop: the cluster is not ours (our namespaces are removed by the lifecycle)."""
