"""The values matrix beside chart-testing: `ct install --all` vs `webstack smoke --matrix`, one kwok
cluster, same run. Goal (issue 16): the matrix's wall time <= 0.33x ct's.

chart-testing v3.14.0 (from the tool cache) installs, tests and uninstalls each ci/*-values.yaml
one after another; it is Helm 3 inside, so it gets the pinned helm3 build as `helm` and the pinned
kubectl first on PATH. ct runs on the umbrella chart only (its subcharts have no ci files: ct would
install each alone with its defaults, which the matrix does not do). What the values declare
external (Secrets, the backup claim, the TLS Secret) is made beforehand in the one namespace ct
installs into (`--namespace`), and the CRDs (Gateway API, Prometheus operator) are installed
cluster-wide first, so ct runs every ci file the matrix does. The matrix's time includes its own
per-file namespace, prerequisites and namespace deletion; ct's does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

GOAL_RATIO = 0.33
CT_NAMESPACE = "ct-bench"


def _ct_env(home: Path, kubeconfig: Path) -> dict[str, str]:
    """PATH with Helm 3 as `helm` and the pinned kubectl first; Helm's folders private."""
    from webstack.toolchain import TOOLS

    bin_dir = home / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(TOOLS["helm3"].binary())
    (bin_dir / "kubectl").symlink_to(TOOLS["kube-node"].binary("kubectl"))
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", KUBECONFIG=str(kubeconfig),
                HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
                HELM_DATA_HOME=str(home / "data"))


def _ct_config(home: Path) -> Path:
    from webstack.paths import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "ct.yaml").read_text())
    config["chart-dirs"] = ["charts"]  # the umbrella only: see the module docstring
    path = home / "ct.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _prepare_ct_namespace(kube: object, chart: Path, files: list[Path], work: Path) -> str:
    """The namespace ct installs into, with every file's prerequisites; CRDs installed cluster-wide."""
    from webstack.cluster.kube import create_namespace
    from webstack.lifecycle import prerequisites

    create_namespace(kube, CT_NAMESPACE, "chart-testing benchmark")  # type: ignore[arg-type]
    tls = prerequisites.tls_pair(work)
    # ct names each release itself: the release name rendered here only shapes names the
    # prerequisites do not depend on (they come from the values)
    made = [prerequisites.prepare(kube, chart, "ct", f, CT_NAMESPACE, tls)[0] for f in files]  # type: ignore[arg-type]
    return "; ".join(made)


def run() -> dict[str, float]:
    from rich.console import Console
    from rich.table import Table

    from webstack.cluster.kube import connect
    from webstack.cluster.kwok import KwokCluster
    from webstack.lifecycle.matrix import ci_files, run_rows
    from webstack.paths import CHART_DIR, REPO_ROOT
    from webstack.toolchain import TOOLS

    files = ci_files(CHART_DIR)
    cluster = KwokCluster()
    home = Path(tempfile.mkdtemp(prefix="webstack-bench-ct-"))
    try:
        cluster.start()
        kube = connect(cluster.kubeconfig, cluster.context)
        try:
            _prepare_ct_namespace(kube, CHART_DIR, files, home)
        finally:
            kube.close()
        started = time.monotonic()
        ct = subprocess.run(
            [str(TOOLS["chart-testing"].binary()), "install", "--all", "--config", str(_ct_config(home)),
             "--namespace", CT_NAMESPACE, "--helm-extra-args", "--timeout 300s"],
            cwd=REPO_ROOT, env=_ct_env(home, cluster.kubeconfig), capture_output=True, text=True, check=False,
        )  # fmt: skip
        ct_s = time.monotonic() - started
        if ct.returncode != 0:
            raise RuntimeError(f"ct install failed ({ct.returncode}): {(ct.stdout + ct.stderr)[-2000:]}")
        ct_files = sorted({f.name for f in files if f"ci/{f.name}" in ct.stdout + ct.stderr})
        started = time.monotonic()
        rows = run_rows(cluster, CHART_DIR)
        matrix_s = time.monotonic() - started
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    failed = [r.values_file for r in rows if r.result != "passed"]
    if failed:
        raise RuntimeError(f"matrix rows failed: {', '.join(failed)}")
    if ct_files != [f.name for f in files]:
        raise RuntimeError(f"ct installed {ct_files}, the matrix {[f.name for f in files]}: not the same set")

    ratio = matrix_s / ct_s
    table = Table(title=f"values matrix on one kwok cluster: {len(files)} ci values files, each installed, "
                        "tested and uninstalled")
    for col in ("run", "wall s", "ratio to ct", "goal"):
        table.add_column(col, justify="left" if col == "run" else "right")
    ct_run = "ct install --all (chart-testing v3.14.0, Helm 3, one file at a time)"
    table.add_row(ct_run, f"{ct_s:.1f}", "1.00", "")
    table.add_row("webstack smoke --matrix (Helm 4, all files at once)", f"{matrix_s:.1f}", f"{ratio:.2f}",
                  f"<= {GOAL_RATIO}")
    for r in rows:
        table.add_row(f"  {r.values_file}", f"{r.install_s:.1f} + {r.test_s:.1f}", "", "install + test")
    Console(width=140).print(table)
    print("ct ran after the cluster was up and its prerequisites made; the matrix's time includes its "
          "namespaces, prerequisites and namespace deletion.")
    return {"ct_s": ct_s, "matrix_s": matrix_s, "ratio": ratio}
