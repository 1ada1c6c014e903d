"""The release lifecycle on a cluster, and `webstack smoke`'s orchestration around it.

install (wait) -> helm test -> assertions -> upgrade (new appVersion + config change) -> assertions
-> rollback to 1 -> assertions -> a bad upgrade rolled back automatically -> upgrade from the chart
at a git base ref -> uninstall -> leftovers. Helm is driven through webstack.helm.Releases; every
assertion reads the Kubernetes API. Each stage is a report Step; a failed install blocks the stages
that need it (they are reported as skipped). Where containers really run (kind, existing, node)
the release is also checked over HTTP through nginx and from inside the pods
(webstack.cluster.incontainer); on kwok those steps are skipped, saying why.

The parts, each readable on its own:
- app_release: the bumped chart copy the upgrade installs, and the app image it runs;
- assertions: pure judgements over snapshots and values (no cluster, no I/O);
- base: the state one run carries and `step()`, `upgrade()`, `revision()`;
- container_steps: the steps that need running containers, and the probe through nginx;
- release_steps: `Lifecycle`, the release's steps declared once in `plan()`, and `run()`;
- smoke_run: `webstack smoke`: cluster up, lifecycle, teardown, reports;
- disruption: notes, pod deletions and backups the container steps put the release through;
- matrix: `webstack smoke --matrix`: every ci values file installed, tested, uninstalled at once;
- prerequisites: what a values file declares external, made before its install (matrix, bench).
"""

from __future__ import annotations

from webstack.errors import HelmError
from webstack.lifecycle.app_release import bump_patch, bumped_chart
from webstack.lifecycle.base import Failed, Skip
from webstack.lifecycle.release_steps import POD_GONE_TIMEOUT, Lifecycle
from webstack.lifecycle.smoke_run import SmokeOptions, interrupts_raise, smoke, write_reports

__all__ = [
    "POD_GONE_TIMEOUT",
    "Failed",
    "HelmError",
    "Lifecycle",
    "Skip",
    "SmokeOptions",
    "bump_patch",
    "bumped_chart",
    "interrupts_raise",
    "smoke",
    "write_reports",
]
