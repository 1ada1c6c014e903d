"""Schema validation of a big rendered corpus, cold, ours vs kubeconform, same file, same run.

The corpus is the real chart's values matrix rendered and repeated to about 8,700 objects, with a
few objects broken on purpose so both tools must find the same errors. Both run as fresh processes
(start-up, reading, parsing and validating all counted), for the same two Kubernetes versions, with
the same strictness (bundled strict schemas; kubeconform -strict on an offline copy of them).
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

TARGET_OBJECTS = 8700
BROKEN = 3  # objects given an unknown field: both tools must report each once per version


def corpus(dest: Path) -> tuple[int, int]:
    """Write the corpus; (objects, deliberately broken objects)."""
    from webstack.manifests import Manifest, dump_stream
    from webstack.paths import CHART_DIR
    from webstack.render import render_all
    from webstack.values import matrix

    objs = [m for r in render_all(CHART_DIR, matrix(CHART_DIR)).values() for m in r.manifests]
    copies = -(-TARGET_OBJECTS // len(objs))
    items = objs * copies
    for i in range(BROKEN):  # spread through the file
        m = items[(i + 1) * len(items) // (BROKEN + 1)]
        items[(i + 1) * len(items) // (BROKEN + 1)] = Manifest(m.source, {**m.doc, "bogusField": i})
    dest.write_text(dump_stream(items))
    return len(items), BROKEN


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return time.monotonic() - t, res


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from webstack.checks import crds, kubernetes
    from webstack.toolchain import TOOLS

    versions = kubernetes.default_versions()
    location = kubernetes.kubeconform_schema_location(versions)  # one-time conversion, not timed
    crd_location = crds.kubeconform_crd_location()  # custom resources (HTTPRoute, ...), as the gate has them
    kubeconform = str(TOOLS["kubeconform"].binary("kubeconform"))
    no_net = ["unshare", "-n"] if shutil.which("unshare") and os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.yaml"
        objects, broken = corpus(path)
        size = path.stat().st_size
        t_ours, res = _timed([sys.executable, "-m", "webstack", "validate", str(path), "--format", "json",
                              "--kube-version", *versions])
        ours_errors = json.loads(res.stdout)["count"] if res.returncode in (0, 1) else None
        if ours_errors is None:
            raise RuntimeError(f"webstack validate failed: {res.stderr.strip()}")
        t_kc, kc_errors = 0.0, 0
        for v in versions:
            t, res = _timed([*no_net, kubeconform, "-strict", "-n", str(os.cpu_count() or 2), "-summary",
                             "-output", "json", "-kubernetes-version", f"{v}.0", "-schema-location", location,
                             "-schema-location", crd_location, str(path)])
            t_kc += t
            kc_errors += int(json.loads(res.stdout or "{}").get("summary", {}).get("invalid", 0))

    n = objects * len(versions)
    table = Table(title=f"schema validation, cold: {objects} objects ({size / 1e6:.1f} MB) x Kubernetes "
                        f"{', '.join(versions)}, {broken} broken on purpose")
    for col in ("tool", "wall (s)", "objects/s", "errors found"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    table.add_row("webstack validate", f"{t_ours:.2f}", f"{n / t_ours:.0f}", str(ours_errors))
    table.add_row(f"kubeconform -strict -n {os.cpu_count()}", f"{t_kc:.2f}", f"{n / t_kc:.0f}",
                  str(kc_errors))
    table.add_row("ratio (throughput ours/kubeconform)", "", f"{t_kc / t_ours:.2f}x", "")
    Console(width=200).print(table)
    print(f"goal: >= 2x kubeconform's throughput; both must find {broken * len(versions)} errors")
