"""The static gate: values check first (bad values stop before rendering), one render per values set,
then the independent checks (Kubernetes schema per version, policy, references, hooks, upgrade, server)
concurrently. The server check (a real kube-apiserver, seconds) is opt-in: DEFAULT_CHECKS leaves it out;
when asked for, its API server starts before the renders so its start-up overlaps them.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from webstack.errors import InputError
from webstack.paths import REPO_ROOT
from webstack.render import Render, ensure_chart, render_jobs
from webstack.report import Finding, Severity
from webstack.values import ValuesSet, merged

ALL_CHECKS = ("values", "kubernetes", "policy", "references", "hooks", "upgrade", "server")
# what `webstack check` runs when no --check is given: all but the server check (it costs seconds)
DEFAULT_CHECKS = tuple(c for c in ALL_CHECKS if c != "server")


class ValuesRejected(InputError):
    """The values do not match the schemas; nothing was rendered. Carries the findings for the report."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        lines = [f"  {f.file}: {f.path}: {f.message} [{f.context}]" for f in findings[:20]]
        more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
        super().__init__(
            "values do not match the chart schemas (nothing rendered):\n" + "\n".join(lines) + more
        )


@dataclass
class GateResult:
    findings: list[Finding]
    checks: list[str]
    renders: dict[str, Render]
    objects_validated: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def check_values(chart_dir: Path, sets: list[ValuesSet]) -> list[Finding]:
    from webstack.checks import values

    ensure_chart(chart_dir)
    return [f for vs in sets for f in values.check(chart_dir, vs)]


def nothing_rendered(chart_dir: Path, vs: ValuesSet) -> Finding:
    """A values set that renders no object leaves every check with nothing to check: not a pass."""
    files = ", ".join(map(str, vs.files)) or f"{chart_dir}/values.yaml"
    return Finding(files, "(render)", "(all)", "RENDERED-NOTHING",
                   "the chart rendered no object with these values: no check had anything to check",
                   Severity.ERROR, "render", vs.name)


def _base_jobs(
    chart_dir: Path, sets: list[ValuesSet], base_chart: Path | None, previous: list[Path] | None
) -> dict[str, tuple[Path, ValuesSet]]:
    """What each current set is compared against: the same set on the base chart, or the previous values."""
    jobs: dict[str, tuple[Path, ValuesSet]] = {}
    for vs in sets:
        if previous:
            jobs[f"base:{vs.name}"] = (chart_dir, ValuesSet("previous", tuple(previous)))
        elif base_chart is not None:
            # a ci file of the current chart maps to the same file of the base chart when it existed there
            files = tuple(
                base_chart / f.relative_to(chart_dir)
                if f.is_relative_to(chart_dir) and (base_chart / f.relative_to(chart_dir)).is_file()
                else f
                for f in vs.files
            )
            jobs[f"base:{vs.name}"] = (base_chart, ValuesSet(vs.name, files))
    return jobs


def run_gate(
    chart_dir: Path,
    sets: list[ValuesSet],
    kube_versions: list[str],
    *,
    checks: tuple[str, ...] = DEFAULT_CHECKS,
    externals: set[str] = frozenset(),
    base_ref: str | None = None,
    previous_values: list[Path] | None = None,
    crd_files: tuple[Path, ...] = (),
    workers: int = min(4, os.cpu_count() or 2),
    repo: Path = REPO_ROOT,
) -> GateResult:
    """Findings of every requested check over every values set; `repo` is where `base_ref` is looked up."""
    from webstack import versioning
    from webstack.checks import apis, hooks, kubernetes, policy, references, upgrade
    from webstack.checks import server as server_check

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    findings: list[Finding] = []
    if "values" in checks:
        findings = check_values(chart_dir, sets)
        if any(f.severity >= Severity.ERROR for f in findings):
            raise ValuesRejected(findings)
    timings["values"] = time.monotonic() - t0
    if set(checks) <= {"values"}:
        return GateResult(findings, ["values"], {}, 0, timings)

    server = None
    if "server" in checks:
        from webstack.cluster.apiserver import APIServer

        server = APIServer()
        server.launch()  # etcd and kube-apiserver start while helm renders; stopped below, always
    try:
        with tempfile.TemporaryDirectory(prefix="webstack-base-") as tmp:
            base_chart = (versioning.chart_at_ref(chart_dir, base_ref, Path(tmp), repo=repo)
                          if base_ref else None)
            for f in previous_values or []:
                if not f.is_file():
                    raise InputError(f"{f}: previous values file does not exist")
            jobs: dict[str, tuple[Path, ValuesSet]] = {vs.name: (chart_dir, vs) for vs in sets}
            if "upgrade" in checks:
                jobs |= _base_jobs(chart_dir, sets, base_chart, previous_values)
            t1 = time.monotonic()
            renders = render_jobs(jobs)
            timings["render"] = time.monotonic() - t1

        ran = [c for c in checks if c != "upgrade" or len(renders) > len(sets)]
        kube_range = apis.chart_kube_range(chart_dir)  # API removals: every minor the chart supports
        tasks: list[tuple[str, Callable[[], list[Finding]]]] = []
        for vs in sets:
            ms = renders[vs.name].manifests
            if not ms:
                findings.append(nothing_rendered(chart_dir, vs))
            if "kubernetes" in checks:
                tasks += [
                    ("kubernetes", lambda ms=ms, v=v, n=vs.name:
                     kubernetes.check(ms, v, n, crd_files=crd_files))
                    for v in kube_versions
                ]
            if "policy" in checks:
                tasks.append(("policy", lambda ms=ms, n=vs.name: policy.check(ms, n, kube_range)))
            if "references" in checks:
                ext = set(externals) | references.externals_declared(chart_dir, merged(chart_dir, vs))
                tasks.append(("references", lambda ms=ms, n=vs.name, ext=ext: references.check(ms, n, ext)))
            if "hooks" in checks:
                tasks.append(("hooks", lambda ms=ms, n=vs.name: hooks.check(ms, n)))
            if f"base:{vs.name}" in renders:
                old = renders[f"base:{vs.name}"].manifests
                label = f"{vs.name} (from {base_ref or 'previous values'})"
                tasks.append(("upgrade", lambda old=old, ms=ms, label=label: upgrade.diff(old, ms, label)))
        stats: dict[str, float] = {}
        if server is not None:
            every = [(vs, renders[vs.name].manifests) for vs in sets]
            tasks.insert(0, ("server", lambda: server_check.check(chart_dir, every, server, stats=stats)))
        t2 = time.monotonic()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                futures = [(name, pool.submit(fn)) for name, fn in tasks]
                for _name, fut in futures:
                    findings += fut.result()
            except BaseException:
                if server is not None:  # Ctrl-C: stop the server now, so its requests end, not finish
                    server.stop()
                raise
        timings["checks"] = time.monotonic() - t2
        if stats:
            timings["server start"] = stats["started_seconds"]
            timings["server"] = stats["seconds"]
        validated = (
            sum(len(renders[vs.name].manifests) for vs in sets) * len(kube_versions)
            if "kubernetes" in checks
            else 0
        )
        current = {vs.name: renders[vs.name] for vs in sets}
        return GateResult(findings, ran, current, validated, timings)
    finally:
        if server is not None:
            server.stop()
