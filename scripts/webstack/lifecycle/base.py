"""What one lifecycle run carries from step to step, and the plumbing every step uses.

`LifecycleBase` holds the cluster, the scenario and what later steps compare against (snapshots,
each revision's values, the objects there before the install); `step()` runs one action and
records it as a report Step (Skip: skipped; Failed or any error: failed; a failed critical step
blocks the steps after it); `upgrade()`, `revision()` and `revision_values()` drive helm through
webstack.helm.Releases.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webstack import helm
from webstack.cluster import Cluster, release_state
from webstack.cluster.kube import Kube
from webstack.cluster.scenario import Scenario
from webstack.errors import ClusterError, WebstackError
from webstack.report import Step


class Skip(Exception):
    """A step that cannot apply here; the message says why."""


class Failed(Exception):
    """An assertion about the cluster that did not hold."""


@dataclass
class LifecycleBase:
    """One run of the lifecycle against a started cluster. Holds what later steps compare against."""

    cluster: Cluster
    scenario: Scenario
    namespace: str
    work: Path
    base_ref: str = "HEAD"
    steps: list[Step] = field(default_factory=list)
    kube: Kube | None = None
    namespaces: list[str] = field(default_factory=list)  # the ones we created, deleted at the end
    blocked: str = ""
    snaps: dict[str, release_state.Snapshot] = field(default_factory=dict)
    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    app_version: str = ""
    new_version: str = ""
    installed: bool = False
    # "Kind/name" of objects in the namespace before the install (what a user made for the release:
    # existing Secrets, claims): not the release's, so uninstall must leave them and not report them.
    preexisting: set[str] = field(default_factory=set)
    port_forward: subprocess.Popen[bytes] | None = None
    base_url: str = ""
    probe_url: str = ""  # through the Service itself where the provider can reach it (node)
    notes: list[Any] = field(default_factory=list)  # written through nginx, read back after changes

    @property
    def k(self) -> Kube:
        if self.kube is None:
            raise ClusterError("not connected to the cluster")
        return self.kube

    def releases(self) -> helm.Releases:
        return helm.Releases(self.cluster.kubeconfig, self.cluster.context, self.namespace)

    def step(self, name: str, fn: Callable[[], str], *, critical: bool = False) -> Step:
        if self.blocked:
            s = Step(name, "skipped", 0.0, f"not run: {self.blocked}")
            self.steps.append(s)
            return s
        started = time.monotonic()
        try:
            detail, result = fn(), "passed"
        except Skip as exc:
            detail, result = str(exc), "skipped"
        except (WebstackError, Failed) as exc:
            detail, result = str(exc), "failed"
        except Exception as exc:  # kubernetes client errors: report, keep going
            detail, result = f"{type(exc).__name__}: {str(exc).strip()}", "failed"
        s = Step(name, result, time.monotonic() - started, detail)  # type: ignore[arg-type]
        self.steps.append(s)
        if result == "failed" and critical:
            self.blocked = f"{name} failed"
        return s

    def revision(self) -> helm.Revision:
        return self.releases().current(self.scenario.release)

    def revision_values(self, number: int) -> dict[str, Any]:
        return self.releases().values(self.scenario.release, number)

    def upgrade(
        self,
        chart: Path,
        values: dict[str, Any],
        *,
        timeout: str,
        rollback_on_failure: bool = False,
        namespace: str | None = None,
        release: str | None = None,
    ) -> helm.Revision:
        return self.releases().install_or_upgrade(
            release or self.scenario.release, chart, values, timeout=timeout,
            rollback_on_failure=rollback_on_failure, namespace=namespace,
        )

    def snapshot(self) -> release_state.Snapshot:
        return release_state.snapshot(self.k, self.namespace, self.secret_names)
