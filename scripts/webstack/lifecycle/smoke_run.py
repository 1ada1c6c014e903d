"""`webstack smoke` around the lifecycle: start the cluster, run the lifecycle, always tear down,
write the reports (smoke.json, smoke.junit.xml). SIGTERM and SIGINT still reach every teardown.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webstack import versioning
from webstack.cluster import Cluster, private_dir
from webstack.cluster.kube import connect
from webstack.errors import ClusterError, InputError, WebstackError
from webstack.lifecycle.app_release import app_images
from webstack.lifecycle.release_steps import Lifecycle
from webstack.report import Step
from webstack.values import merge


@dataclass
class SmokeOptions:
    provider: str = "node"  # as `webstack smoke`
    scenario: Path | None = None
    chart: Path | None = None
    namespace: str = "webstack-smoke"
    base_ref: str = "HEAD"
    report_dir: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    cluster_name: str | None = None
    nodes: int = 1  # node provider only (webstack.cluster.check_nodes)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM (and SIGINT) become KeyboardInterrupt, so every `finally` (teardown) runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def smoke(opts: SmokeOptions, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Start the cluster, run the lifecycle, always tear down; the steps (also written to report_dir)."""
    from webstack.cluster import chart_values, make
    from webstack.cluster import scenario as scen

    scenario = scen.load(opts.scenario or scen.DEFAULT_SCENARIO, opts.chart)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,56}[a-z0-9])?", opts.namespace):
        raise InputError(
            f"--namespace {opts.namespace!r} is not a DNS label of at most 58 characters "
            "(lower-case letters, digits, '-'; the base-ref upgrade adds '-base')"
        )
    versioning.commit_of(opts.base_ref)  # a mistyped --base-ref fails here, before any cluster starts
    steps: list[Step] = []
    cluster_opts: dict[str, object] = {}
    if opts.provider == "existing":
        cluster_opts = {"kubeconfig": opts.kubeconfig, "context": opts.context}
    cluster = make(opts.provider, opts.cluster_name, nodes=opts.nodes, **cluster_opts)
    work = private_dir("webstack-smoke-")
    life: Lifecycle | None = None
    with interrupts_raise():
        try:
            started = time.monotonic()
            try:
                cluster.start()
                cluster.load_images(app_images(scenario.chart))
                # The provider's image overlay names subcharts: only a chart that has them takes it.
                charts = scenario.chart / "charts"
                subcharts = {p.name for p in charts.iterdir() if (p / "Chart.yaml").is_file()} if (
                    charts.is_dir()) else set()
                overlay = {k: v for k, v in chart_values(cluster).items() if k in subcharts}
                subs = ""
                if overlay:
                    scenario = dataclasses.replace(scenario, install=merge(scenario.install, overlay))
                    subs = "".join(f"; image {s}" for s in getattr(cluster, "substitutions", list)())
                steps.append(
                    Step(
                        "cluster up",
                        "passed",
                        time.monotonic() - started,
                        f"{opts.provider} cluster {cluster.name} ({_server(cluster)}){subs}",
                    )
                )
            except WebstackError as exc:
                steps.append(Step("cluster up", "failed", time.monotonic() - started, str(exc)))
                raise
            finally:
                if on_step and steps:
                    on_step(steps[-1])
            life = Lifecycle(cluster, scenario, opts.namespace, work, opts.base_ref)
            life.step = _announcing(life.step, on_step)  # type: ignore[method-assign]
            steps += life.run()
        finally:
            failed = any(s.result == "failed" for s in steps) or not steps
            if life is not None:
                life.close()
            down = time.monotonic()
            try:
                cluster.stop(keep_logs_in=opts.report_dir if failed and opts.report_dir else None)
                kept = f"; component logs kept in {opts.report_dir}" if failed and opts.report_dir else ""
                steps.append(
                    Step(
                        "cluster down",
                        "passed",
                        time.monotonic() - down,
                        f"processes stopped, temporary folders removed{kept}",
                    )
                )
            except WebstackError as exc:
                steps.append(Step("cluster down", "failed", time.monotonic() - down, str(exc)))
            if on_step:
                on_step(steps[-1])
            shutil.rmtree(work, ignore_errors=True)
            if opts.report_dir:
                write_reports(steps, opts.report_dir)
    return steps


def _announcing(step: Callable[..., Step], on_step: Callable[[Step], None] | None) -> Callable[..., Step]:
    def wrapped(*args: Any, **kw: Any) -> Step:
        s = step(*args, **kw)
        if on_step:
            on_step(s)
        return s

    return wrapped


def _server(cluster: Cluster) -> str:
    try:
        kube = connect(cluster.kubeconfig, cluster.context)
    except ClusterError as exc:
        return str(exc)
    try:
        from webstack.cluster.kube import server_version

        return f"Kubernetes {server_version(kube)}"
    finally:
        kube.close()


def write_reports(steps: list[Step], report_dir: Path) -> None:
    from webstack import outputs
    from webstack.report import steps_json, steps_junit

    clean = [copy.copy(s) for s in steps]
    outputs.open_dir(report_dir)  # `webstack smoke` checked it before the cluster started
    outputs.write_file(report_dir / "smoke.json", steps_json(clean))
    outputs.write_file(report_dir / "smoke.junit.xml", steps_junit(clean, "webstack.smoke"))
