"""The real node's cost, beside the kwok lifecycle in the same run, as ratios.

Goals (issue 11): warm cluster up < 15 s, the whole real lifecycle < 150 s warm. Measured: image
build cached (and the cold figure is the first `webstack images build` on a machine, printed by
that command), cluster up warm (images cached) twice, install -> all pods Ready, each lifecycle
step, the zero-downtime probe's figures, and the peak RSS of every node and control-plane
process (sampled from /proc while the lifecycle runs). Then the lifecycle on two nodes
(`--nodes 2`): cluster up, the drain's duration and its probe, the node loss's times and probe, and
the MySQL node's loss. The MySQL figures come from the MariaDB stand-in image (Debian MariaDB
10.11), not the official MySQL image.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from webstack.lifecycle import SmokeOptions, smoke
from webstack.report import Step

UP_GOAL_S = 15.0
LIFECYCLE_GOAL_S = 150.0


class RssSampler:
    """Peak summed RSS of every process in a network namespace (daemons, shims, containers)."""

    def __init__(self, netns: str) -> None:
        self.netns, self.peak_kib, self._stop = netns, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from webstack.cluster.node import host

        while not self._stop.wait(0.5):
            inode = host.netns_inode(self.netns)
            if inode is None:
                continue
            total = 0
            for pid in host.pids_of(inode, f"/{self.netns}"):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                if m := re.search(r"VmRSS:\s+(\d+)", status):
                    total += int(m.group(1))
            self.peak_kib = max(self.peak_kib, total)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _images_cached_s() -> float:
    from webstack import images
    from webstack.paths import APP_DIR

    version = (APP_DIR / "VERSION").read_text().strip()
    started = time.monotonic()
    images.build([version])
    return time.monotonic() - started


def run() -> dict[str, float]:
    from rich.console import Console
    from rich.table import Table

    from webstack.cluster.node import NodeCluster

    cached = _images_cached_s()
    ups = []
    for _ in range(2):
        cluster = NodeCluster()
        started = time.monotonic()
        cluster.start()
        ups.append(time.monotonic() - started)
        cluster.stop()
    name = f"ws-b{os.getpid() % 100000}"
    started = time.monotonic()
    with RssSampler(name) as rss:
        node_steps: list[Step] = smoke(SmokeOptions(provider="node", namespace="bench", cluster_name=name))
    node_wall = time.monotonic() - started
    started = time.monotonic()
    kwok_steps: list[Step] = smoke(SmokeOptions(provider="kwok", namespace="bench"))
    kwok_wall = time.monotonic() - started

    node, kwok = {s.name: s for s in node_steps}, {s.name: s for s in kwok_steps}
    table = Table(title="real node vs kwok (real chart; MySQL is the MariaDB stand-in on the node)")
    for col in ("measure", "node s", "kwok s", "node/kwok", "goal", "node/goal"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    table.add_row("images, cached", f"{cached:.1f}", "-", "", "", "")
    for i, up in enumerate(ups, 1):
        table.add_row(f"cluster up (warm, run {i})", f"{up:.1f}", "", "", f"{UP_GOAL_S:.0f}",
                      f"{up / UP_GOAL_S:.2f}")
    for step in node_steps:
        k = kwok.get(step.name)
        ratio = f"{step.seconds / k.seconds:.1f}x" if k and k.seconds > 0.05 else ""
        table.add_row(f"  {step.name} ({step.result})", f"{step.seconds:.1f}",
                      f"{k.seconds:.1f}" if k else "-", ratio, "", "")
    life = [s for s in node_steps if s.name not in ("cluster up", "cluster down")]
    life_s = sum(s.seconds for s in life)
    kwok_life_s = sum(s.seconds for s in kwok_steps if s.name not in ("cluster up", "cluster down"))
    table.add_row("lifecycle total", f"{life_s:.1f}", f"{kwok_life_s:.1f}", f"{life_s / kwok_life_s:.1f}x",
                  f"{LIFECYCLE_GOAL_S:.0f}", f"{life_s / LIFECYCLE_GOAL_S:.2f}")
    table.add_row("wall clock, up to torn down", f"{node_wall:.1f}", f"{kwok_wall:.1f}",
                  f"{node_wall / kwok_wall:.1f}x", "", "")
    table.add_row("peak RSS, every process of the node (MiB)", f"{rss.peak_kib / 1024:.0f}", "", "", "", "")
    Console(width=150).print(table)
    for name in ("upgrade", "rollback"):
        detail = node[name].detail
        print(f"{name} probe: {detail.split('probe', 1)[1] if 'probe' in detail else 'none'}")
    failed = [s.name for s in node_steps + kwok_steps if s.result == "failed"]
    if failed:
        raise RuntimeError(f"lifecycle steps failed: {', '.join(failed)}")
    return {"up_warm_s": min(ups), "lifecycle_s": life_s, "kwok_lifecycle_s": kwok_life_s,
            "peak_rss_mib": rss.peak_kib / 1024, **two_nodes()}


NODE_STEPS = ("node drained", "node lost", "database node lost")


def two_nodes() -> dict[str, float]:
    """The lifecycle on two nodes: the drain and node-loss steps' figures (in their details)."""
    started = time.monotonic()
    steps = {s.name: s for s in smoke(SmokeOptions(provider="node", namespace="bench2", nodes=2))}
    wall = time.monotonic() - started
    print(f"two nodes: cluster up {steps['cluster up'].seconds:.1f}s; lifecycle wall clock, up to torn "
          f"down, {wall:.1f}s")
    for name in NODE_STEPS:
        step = steps.get(name)
        print(f"{name}: " + (f"{step.result} in {step.seconds:.1f}s: {step.detail}" if step else "not run"))
    failed = [s.name for s in steps.values() if s.result != "passed"]
    if failed or any(n not in steps for n in NODE_STEPS):
        raise RuntimeError(f"two-node lifecycle: not passed: {', '.join(failed) or 'node steps missing'}")
    drained = re.search(r"drained \S+ .*? in ([\d.]+)s", steps["node drained"].detail)
    elsewhere = re.search(r"Ready elsewhere ([\d.]+)s", steps["node lost"].detail)
    if not drained or not elsewhere:
        raise RuntimeError("the node steps' details no longer say the drain's or the loss's time")
    return {"two_node_up_s": steps["cluster up"].seconds, "two_node_wall_s": wall,
            "drain_s": float(drained.group(1)), "node_loss_ready_elsewhere_s": float(elsewhere.group(1)),
            "database_node_lost_step_s": steps["database node lost"].seconds}
