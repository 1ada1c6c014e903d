"""The cluster tier's speed: kwok cluster start, each lifecycle step on the real chart, teardown.

Goals (issue 6): cluster start < 20 s, the whole lifecycle < 60 s once the binaries are cached.
For comparison, chart-testing's `ct install --upgrade` runs install, test, upgrade and delete one
after another per chart and values file, and its wait covers Deployments only; here Helm 4's
watcher waits on every workload (StatefulSets and hook Jobs too) and the run adds rollback, a
rejected upgrade and uninstall checks.
"""

from __future__ import annotations

import time

from webstack.lifecycle import SmokeOptions, smoke
from webstack.report import Step

START_GOAL_S = 20.0
LIFECYCLE_GOAL_S = 60.0


def run() -> dict[str, float]:
    from rich.console import Console
    from rich.table import Table

    started = time.monotonic()
    steps: list[Step] = smoke(SmokeOptions(provider="kwok", namespace="bench"))
    wall = time.monotonic() - started
    by = {s.name: s for s in steps}
    lifecycle = [s for s in steps if s.name not in ("cluster up", "cluster down")]
    life_s = sum(s.seconds for s in lifecycle)
    up_s = by["cluster up"].seconds

    table = Table(title="cluster tier on kwok (real chart)")
    for col in ("step", "result", "seconds", "goal", "ratio to goal"):
        table.add_column(col, justify="right" if col in ("seconds", "goal", "ratio to goal") else "left")
    table.add_row(
        "cluster up",
        by["cluster up"].result,
        f"{up_s:.1f}",
        f"{START_GOAL_S:.0f}",
        f"{up_s / START_GOAL_S:.2f}",
    )
    for s in lifecycle:
        table.add_row(
            f"  {s.name}",
            s.result,
            f"{s.seconds:.1f}",
            "",
            f"{s.seconds / life_s:.0%} of lifecycle" if life_s else "",
        )
    table.add_row(
        "lifecycle total", "", f"{life_s:.1f}", f"{LIFECYCLE_GOAL_S:.0f}", f"{life_s / LIFECYCLE_GOAL_S:.2f}"
    )
    table.add_row("cluster down", by["cluster down"].result, f"{by['cluster down'].seconds:.1f}", "", "")
    table.add_row("wall clock (start to torn down)", "", f"{wall:.1f}", "", "")
    Console(width=140).print(table)
    print(
        "chart-testing comparison: `ct install --upgrade` is sequential per chart/values file and waits "
        "for Deployments only; this run waits for StatefulSets and hook Jobs too and adds rollback, "
        "a rejected upgrade and uninstall checks (ct cannot run here: it shells out to kubectl)."
    )
    failed = [s.name for s in steps if s.result == "failed"]
    if failed:
        raise RuntimeError(f"lifecycle steps failed: {', '.join(failed)}")
    return {"cluster_up_s": up_s, "lifecycle_s": life_s, "wall_s": wall}
