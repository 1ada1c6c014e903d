"""The static gate: values check first (bad values stop before rendering), one render per values set,
then the independent checks (Kubernetes schema per version, policy, references, upgrade) concurrently.
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

ALL_CHECKS = ("values", "kubernetes", "policy", "references", "upgrade")


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
    checks: tuple[str, ...] = ALL_CHECKS,
    externals: set[str] = frozenset(),
    base_ref: str | None = None,
    previous_values: list[Path] | None = None,
    workers: int = min(4, os.cpu_count() or 2),
    repo: Path = REPO_ROOT,
) -> GateResult:
    """Findings of every requested check over every values set; `repo` is where `base_ref` is looked up."""
    from webstack import versioning
    from webstack.checks import kubernetes, policy, references, upgrade

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

    with tempfile.TemporaryDirectory(prefix="webstack-base-") as tmp:
        base_chart = versioning.chart_at_ref(chart_dir, base_ref, Path(tmp), repo=repo) if base_ref else None
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
    tasks: list[tuple[str, Callable[[], list[Finding]]]] = []
    for vs in sets:
        ms = renders[vs.name].manifests
        if "kubernetes" in checks:
            tasks += [
                ("kubernetes", lambda ms=ms, v=v, n=vs.name: kubernetes.check(ms, v, n))
                for v in kube_versions
            ]
        if "policy" in checks:
            tasks.append(("policy", lambda ms=ms, n=vs.name: policy.check(ms, n)))
        if "references" in checks:
            ext = set(externals) | references.externals_from_values(merged(chart_dir, vs))
            tasks.append(("references", lambda ms=ms, n=vs.name, ext=ext: references.check(ms, n, ext)))
        if f"base:{vs.name}" in renders:
            old = renders[f"base:{vs.name}"].manifests
            label = f"{vs.name} (from {base_ref or 'previous values'})"
            tasks.append(("upgrade", lambda old=old, ms=ms, label=label: upgrade.diff(old, ms, label)))
    t2 = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(name, pool.submit(fn)) for name, fn in tasks]
        for _name, fut in futures:
            findings += fut.result()
    timings["checks"] = time.monotonic() - t2
    validated = (
        sum(len(renders[vs.name].manifests) for vs in sets) * len(kube_versions)
        if "kubernetes" in checks
        else 0
    )
    current = {vs.name: renders[vs.name] for vs in sets}
    return GateResult(findings, ran, current, validated, timings)
