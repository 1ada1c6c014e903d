"""The server check's own cost, apart from the rest of the static gate.

start-up: certificates + etcd + kube-apiserver until /readyz (three cold starts; the gate overlaps
this with helm's renders). throughput: the real chart's whole values matrix, dry-run applied through
the running server with 1..16 request threads (distinct objects are sent once; objects/s counts
every object of every set). gate: `run_gate` wall time without and with the server check.
"""

from __future__ import annotations

import statistics
import time


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from webstack.checks import DEFAULT_CHECKS, run_gate
    from webstack.checks import server as server_check
    from webstack.checks.kubernetes import default_versions
    from webstack.cluster.apiserver import APIServer
    from webstack.paths import CHART_DIR
    from webstack.render import render_all
    from webstack.values import matrix

    sets = matrix(CHART_DIR)
    renders = render_all(CHART_DIR, sets)
    every = [(vs, renders[vs.name].manifests) for vs in sets]
    starts, certs = [], []
    for _ in range(3):
        with APIServer() as s:
            starts.append(s.started_seconds)
            certs.append(s.timings["certificates"])
    table = Table(title=f"server check: {len(sets)} values sets, "
                        f"{sum(len(ms) for _vs, ms in every)} objects")
    for col in ("what", "figure"):
        table.add_column(col)
    table.add_row("start-up to ready (s), median of 3",
                  f"{statistics.median(starts):.2f} (min {min(starts):.2f}, max {max(starts):.2f}; "
                  f"certificates {statistics.median(certs):.2f})")
    with APIServer() as s:
        server_check.check(CHART_DIR, every, s)  # warm: discovery, connections
        for workers in (1, 4, 8, 16):
            stats: dict[str, float] = {}
            server_check.check(CHART_DIR, every, s, workers=workers, stats=stats)
            table.add_row(f"dry-run, {workers} thread(s)",
                          f"{stats['objects'] / stats['seconds']:.0f} objects/s "
                          f"({stats['requests']:.0f} distinct requests in {stats['seconds']:.2f}s)")
    versions = default_versions()
    for label, checks in (("gate without server (s)", DEFAULT_CHECKS),
                          ("gate with server (s)", (*DEFAULT_CHECKS, "server"))):
        t = time.monotonic()
        r = run_gate(CHART_DIR, sets, versions, checks=checks)
        table.add_row(label, f"{time.monotonic() - t:.2f} (" + ", ".join(f"{k} {v:.2f}" for k, v in
                                                             r.timings.items()) + ")")
    Console(width=200).print(table)
    print("goal: start-up under 5 s, overlapped with the renders; the matrix adds under 1 s once ready")
