"""The static gate against the anchors, on the same input in the same run.

ours:    `webstack check` (values schema, render once per set, Kubernetes schema for 2 versions, policy,
         references) then `webstack lint` (helm lint --strict x matrix and subcharts, yamllint, Chart.yaml).
anchors: what a chart-testing CI runs: `ct lint --all` (helm lint per ci values file, yamllint, yamale
         on Chart.yaml), then per values set `helm template` and `kubeconform -strict` for the same
         versions (offline schemas, no network: inside `unshare -n` when available). They do less:
         no policy, references, hooks or values paths.
Schema validation alone on a big corpus, cold against cold, is bench/corpus.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    return time.monotonic() - t, res


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from webstack import helm
    from webstack.checks import crds, kubernetes, run_gate
    from webstack.paths import CHART_DIR, REPO_ROOT
    from webstack.toolchain import TOOLS
    from webstack.values import matrix

    chart = CHART_DIR
    sets = matrix(chart)
    versions = kubernetes.default_versions()
    helm_bin = str(helm.binary())
    kubeconform = str(TOOLS["kubeconform"].binary("kubeconform"))
    location = kubernetes.kubeconform_schema_location(versions)  # one-time conversion, not timed
    no_net = ["unshare", "-n"] if shutil.which("unshare") and os.geteuid() == 0 else []
    webstack = [sys.executable, "-m", "webstack"]

    with tempfile.TemporaryDirectory() as tmp:
        # ours, as a user runs it
        t_check, res = _timed([*webstack, "check", "--format", "json", "--output", f"{tmp}/check.json"])
        if res.returncode not in (0, 1):
            raise RuntimeError(f"webstack check failed: {res.stderr}")
        t_lint, res = _timed([*webstack, "lint", "--format", "json", "--output", f"{tmp}/lint.json"])
        if res.returncode not in (0, 1):
            raise RuntimeError(f"webstack lint failed: {res.stderr}")
        ours = t_check + t_lint

        # anchors, one after another as chart-testing-style CI runs them
        ct = str(TOOLS["chart-testing"].binary("ct"))
        env = dict(os.environ, PATH=f"{Path(helm_bin).parent}:{Path(sys.executable).parent}:"
                                    f"{os.environ.get('PATH', '')}")  # ct calls helm, yamllint, yamale
        t_ct = time.monotonic()
        res = subprocess.run([ct, "lint", "--config", "ct.yaml", "--all"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, check=False)
        t_ct = time.monotonic() - t_ct
        if res.returncode != 0:
            raise RuntimeError(f"ct lint failed: {(res.stdout + res.stderr)[-500:]}")
        files = []
        t0 = time.monotonic()
        for vs in sets:
            _t, res = _timed(
                [
                    helm_bin,
                    "template",
                    "webstack",
                    str(chart),
                    "--namespace",
                    "webstack",
                    *[a for f in vs.files for a in ("--values", str(f))],
                ]
            )
            path = Path(tmp) / f"{vs.name}.yaml"
            path.write_text(res.stdout)
            files.append(str(path))
        t_template = time.monotonic() - t0
        t_kubeconform, objects_kc = 0.0, 0
        for v in versions:
            t, res = _timed(
                [
                    *no_net,
                    kubeconform,
                    "-strict",
                    "-summary",
                    "-output",
                    "json",
                    "-kubernetes-version",
                    f"{v}.0",
                    "-schema-location",
                    location,
                    "-schema-location",
                    crds.kubeconform_crd_location(),
                    *files,
                ]
            )
            t_kubeconform += t
            summary = json.loads(res.stdout or "{}").get("summary", {})
            objects_kc += int(summary.get("valid", 0)) + int(summary.get("invalid", 0))
            if summary.get("errors"):
                print(f"kubeconform {v}: {summary['errors']} errors (schemas not found?)")
        anchors = t_ct + t_template + t_kubeconform

    # the independent Python checks: one thread vs the default pool (jsonschema holds the GIL)
    stages = {}
    for workers in (1, 4):
        r = run_gate(chart, sets, versions, workers=workers)
        stages[workers] = r.timings

    table = Table(
        title=f"static gate: {len(sets)} values set(s) x Kubernetes {', '.join(versions)} "
        f"({objects_kc // len(versions)} objects per version)"
    )
    for col in ("what", "ours", "anchors", "ratio ours/anchors"):
        table.add_column(col, justify="right" if col != "what" else "left")
    table.add_row(
        "wall time (s)",
        f"{ours:.2f} (check {t_check:.2f} + lint {t_lint:.2f})",
        f"{anchors:.2f} (ct lint --all {t_ct:.2f} + template {t_template:.2f} + "
        f"kubeconform {t_kubeconform:.2f})",
        f"{ours / anchors:.2f}x",
    )
    for workers, t in stages.items():
        table.add_row(
            f"gate stages, {workers} thread(s) (s)", " + ".join(f"{k} {v:.2f}" for k, v in t.items()), "", ""
        )
    Console(width=200).print(table)
    print("goal: ours <= 1.0x anchors while also checking values paths, policy, references and Chart.yaml")
