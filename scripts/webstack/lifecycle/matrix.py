"""`webstack smoke --matrix`: every ci/*-values.yaml of a chart on one cluster, at once.

chart-testing's `ct install` takes the values files one after another and waits for Deployments
only. Here each file gets its own namespace enforcing the restricted Pod Security Standard, and
the files run concurrently (`jobs` at a time): what the values declare external is made first
(webstack.lifecycle.prerequisites), then `helm install --wait=watcher --wait-for-jobs` (Helm 4
waits for every workload and hook Job), `helm test`, readiness read through the API
(release_state: Deployments, StatefulSets, Jobs, pods, claims, Services; here: every rendered
workload present, DaemonSets ready), uninstall with the lifecycle's leftover check, and the
namespace deleted. One Row per values file.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from webstack.cluster import Cluster, chart_values, make, private_dir, release_state
from webstack.cluster.kube import Kube, connect, delete_namespaces
from webstack.cluster.scenario import Scenario
from webstack.errors import HelmError, InputError, WebstackError
from webstack.lifecycle import assertions, prerequisites
from webstack.lifecycle.app_release import app_images
from webstack.lifecycle.assertions import first_lines
from webstack.lifecycle.base import Failed
from webstack.lifecycle.release_steps import POD_GONE_TIMEOUT, Lifecycle
from webstack.manifests import Manifest
from webstack.report import Step
from webstack.values import set_name

TIMEOUT = "300s"  # helm --timeout per release: the node starts many pods on 2 cores at once
DEFAULT_JOBS = 16
NAMESPACE_GONE_S = 120.0
# An autoscaled Deployment renders no replica count, so it starts with one pod and its HPA adds the
# rest up to minReplicas after helm returned: readiness may still be coming when the test is done.
SETTLE_S = 90.0


@dataclass
class Row:
    values_file: str
    install_s: float
    test_s: float
    result: str  # passed or failed
    detail: str
    steps: list[Step] = field(default_factory=list)  # the row's own steps, for the report's breakdown

    def step(self) -> Step:
        """The row as a report Step: seconds from namespace to namespace deleted."""
        steps = [{"name": s.name, "result": s.result, "seconds": round(s.seconds, 2)} for s in self.steps]
        data = {"install_s": round(self.install_s, 2), "test_s": round(self.test_s, 2), "steps": steps}
        return Step(self.values_file, "passed" if self.result == "passed" else "failed",
                    sum(s.seconds for s in self.steps), self.detail, data)


def ci_files(chart: Path) -> list[Path]:
    """The chart's ci/*-values.yaml, in name order; none is an error (nothing would be tested)."""
    if not (chart / "Chart.yaml").is_file():
        raise InputError(f"{chart}: not a chart directory (no Chart.yaml)")
    files = sorted((chart / "ci").glob("*-values.yaml"))
    if not files:
        raise InputError(f"{chart / 'ci'}: no *-values.yaml files, so the matrix has nothing to install")
    return files


def overlay(cluster: Cluster, chart: Path) -> dict[str, Any]:
    """The provider's values (the node's image overlay), for the subcharts this chart has."""
    subcharts = {p.parent.name for p in (chart / "charts").glob("*/Chart.yaml")}
    return {k: v for k, v in chart_values(cluster).items() if k in subcharts}


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def workload_problems(kube: Kube, ns: str, want: list[str]) -> list[str]:
    """Every rendered Deployment, StatefulSet, DaemonSet and Job live; DaemonSets ready
    (release_state.not_ready judges the others' readiness)."""
    live = {f"Deployment/{o.metadata.name}" for o in kube.apps.list_namespaced_deployment(ns).items}
    live |= {f"StatefulSet/{o.metadata.name}" for o in kube.apps.list_namespaced_stateful_set(ns).items}
    live |= {f"Job/{o.metadata.name}" for o in kube.batch.list_namespaced_job(ns).items}
    daemons = {f"DaemonSet/{d.metadata.name}": d.status
               for d in kube.apps.list_namespaced_daemon_set(ns).items}
    problems = [f"{w}: rendered but not in the cluster" for w in want if w not in live | set(daemons)]
    for name, st in daemons.items():
        if not st.desired_number_scheduled or (st.number_ready or 0) < st.desired_number_scheduled:
            problems.append(f"{name}: {st.number_ready or 0}/{st.desired_number_scheduled or 0} ready")
    return problems


def namespace_of(values_file: Path) -> str:
    return f"matrix-{set_name(values_file)}"[:63].rstrip("-")


def one(cluster: Cluster, chart: Path, release: str, values_file: Path, overlay_file: Path | None,
        work: Path, tls: tuple[bytes, bytes]) -> Row:
    """One values file: namespace, prerequisites, install --wait, helm test, readiness through the
    API, uninstall and its leftovers, namespace deletion started (run_rows waits for it).

    helm runs as one process per verb (four per file, `helm template` included): on 2 cores the
    matrix is CPU-bound (webstack.helm.Releases.install_files).
    """
    ns = namespace_of(values_file)
    life = Lifecycle(cluster, Scenario(source=values_file, chart=chart, release=release, timeout=TIMEOUT),
                     ns, work)
    rendered: list[Manifest] = []

    def prepare() -> str:
        detail, rendered[:] = prerequisites.prepare(life.k, chart, release, values_file, ns, tls)
        life.preexisting = set(release_state.inventory(life.k, ns))
        return detail

    def install() -> str:
        life.installed = True  # from here on the release may exist, even if the install fails
        files = [values_file, *([overlay_file] if overlay_file else [])]
        try:
            life.releases().install_files(release, chart, files, timeout=TIMEOUT)
        except HelmError as exc:
            why = release_state.diagnose(life.k, ns)
            raise Failed(f"helm install failed: {first_lines(str(exc))}\n{why}") from None
        return "deployed; helm's watcher saw every workload ready and every hook Job complete"

    def assert_ready() -> str:
        want = sorted(m.ref for m in rendered if m.kind in WORKLOADS and not m.is_hook)
        if not want:
            raise Failed("the render has no Deployment, StatefulSet, DaemonSet or Job: nothing to check")

        def problems() -> list[str]:
            return (release_state.not_ready(life.k, ns) + release_state.services_without_endpoints(life.k, ns)
                    + workload_problems(life.k, ns, want))

        started = time.monotonic()
        first = now = problems()
        while now:
            if time.monotonic() - started > SETTLE_S:
                raise Failed(f"{'; '.join(now)} (still so {SETTLE_S:.0f}s after the install and test)")
            time.sleep(1)
            now = problems()
        settled = f"; at first {first[0]}, ready {time.monotonic() - started:.0f}s later" if first else ""
        return f"{', '.join(want)} ready through the API; Services backed{settled}"

    def uninstall() -> str:
        try:
            life.releases().uninstall_once(release, timeout=TIMEOUT)
        except HelmError as exc:
            raise Failed(f"helm uninstall failed: {first_lines(str(exc))}") from None
        kept = release_state.kept_on_purpose(m.doc for m in rendered if not m.is_hook)
        release_state.pods_gone(life.k, ns, POD_GONE_TIMEOUT)
        left = release_state.inventory(life.k, ns)
        if problems := assertions.uninstall_problems(left, kept, life.preexisting):
            raise Failed("; ".join(problems))
        return f"nothing left but {', '.join(sorted(kept)) or 'nothing'} kept on purpose"

    try:
        life.step("namespace", life.do_namespace, critical=True)
        life.step("prerequisites", prepare, critical=True)
        install_step = life.step("install", install, critical=True)
        test_step = life.step("helm test", life.do_test)
        life.step("assert ready", assert_ready)
        if life.installed:
            life.blocked = ""  # whatever failed, the release must go
        life.step("uninstall", uninstall)
        if life.namespaces:
            life.step("namespace deletion", lambda: delete_started(life))
    finally:
        life.close()
    failed = [s for s in life.steps if s.result != "passed"]
    told = ("prerequisites", "helm test", "assert ready")
    detail = (f"{failed[0].name} {failed[0].result}: {failed[0].detail}" if failed else
              "; ".join(s.detail for s in life.steps if s.name in told))
    return Row(values_file.name, install_step.seconds, test_step.seconds, "failed" if failed else "passed",
               detail, life.steps)


def delete_started(life: Lifecycle) -> str:
    """Start deleting the row's namespace; run_rows waits for all of them at once."""
    started = delete_namespaces(life.k, life.namespaces, wait=0)
    life.namespaces.clear()  # so close() does not wait for it here
    return f"deleting {', '.join(started)}"


def run_rows(cluster: Cluster, chart: Path, *, jobs: int = DEFAULT_JOBS,
             on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Every ci values file of the chart on a started cluster, `jobs` at a time, then their namespaces
    gone (a row whose namespace is still there after NAMESPACE_GONE_S fails); rows in file order."""
    from webstack.chart import Chart

    files = ci_files(chart)
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: expected at least 1")
    release = Chart.load(chart).name
    work = private_dir("webstack-matrix-")
    kube = connect(cluster.kubeconfig, cluster.context)
    try:
        tls = prerequisites.tls_pair(work)
        overlay_file = None
        if extra := overlay(cluster, chart):
            overlay_file = work / "provider-values.yaml"
            overlay_file.write_text(yaml.safe_dump(extra))
        rows: list[Row] = []
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="matrix") as pool:
            args = (cluster, chart, release)
            futures = {pool.submit(one, *args, f, overlay_file, work, tls): f for f in files}
            for fut in as_completed(futures):
                try:
                    rows.append(fut.result())
                except Exception as exc:  # one file's surprise must not lose the other rows
                    rows.append(Row(futures[fut].name, 0.0, 0.0, "failed", f"{type(exc).__name__}: {exc}"))
                if on_row:
                    on_row(rows[-1])
        left = set(delete_namespaces(kube, [namespace_of(f) for f in files], wait=NAMESPACE_GONE_S))
    finally:
        kube.close()
        shutil.rmtree(work, ignore_errors=True)
    for r in rows:
        if (ns := namespace_of(Path(r.values_file))) in left:
            r.result, r.detail = "failed", f"namespace {ns} still there {NAMESPACE_GONE_S:.0f}s after delete"
    return sorted(rows, key=lambda r: r.values_file)


@dataclass
class MatrixOptions:
    provider: str = "node"
    chart: Path | None = None
    jobs: int = DEFAULT_JOBS
    report_dir: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None


def matrix(opts: MatrixOptions, on_row: Callable[[Row], None] | None = None) -> tuple[list[Row], list[Step]]:
    """Start the cluster, run every ci values file, always tear down; (rows, the steps reported:
    cluster up, one per values file, cluster down), written to report_dir as smoke.json/.junit.xml."""
    from webstack.lifecycle.smoke_run import interrupts_raise, write_reports
    from webstack.paths import CHART_DIR

    chart = opts.chart or CHART_DIR
    ci_files(chart)  # no ci files: an error before any cluster starts
    options: dict[str, object] = {}
    if opts.provider == "existing":
        options = {"kubeconfig": opts.kubeconfig, "context": opts.context}
    cluster = make(opts.provider, **options)
    rows: list[Row] = []
    steps: list[Step] = []
    with interrupts_raise():
        try:
            started = time.monotonic()
            try:
                cluster.start()
                cluster.load_images(app_images(chart))
            except WebstackError as exc:
                steps.append(Step("cluster up", "failed", time.monotonic() - started, str(exc)))
                raise
            steps.append(Step("cluster up", "passed", time.monotonic() - started,
                              f"{opts.provider} cluster {cluster.name}"))
            rows = run_rows(cluster, chart, jobs=opts.jobs, on_row=on_row)
            steps += [r.step() for r in rows]
        finally:
            down = time.monotonic()
            keep = opts.report_dir if opts.report_dir and (not rows or any(
                r.result != "passed" for r in rows)) else None
            try:
                cluster.stop(keep_logs_in=keep)
                steps.append(Step("cluster down", "passed", time.monotonic() - down,
                                  "processes stopped, temporary folders removed"))
            except WebstackError as exc:
                steps.append(Step("cluster down", "failed", time.monotonic() - down, str(exc)))
            if opts.report_dir:
                write_reports(steps, opts.report_dir)
    return rows, steps


def rows_text(rows: list[Row], stream: IO[str] = sys.stdout, title: str = "values matrix") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("values file", "install s", "test s", "result", "detail"):
        table.add_column(col, overflow="fold", justify="right" if col.endswith(" s") else "left")
    for r in rows:
        style = "green" if r.result == "passed" else "bold red"
        result = f"[{style}]{r.result}[/]"
        table.add_row(r.values_file, f"{r.install_s:.1f}", f"{r.test_s:.1f}", result, r.detail)
    Console(file=stream, width=160).print(table)
