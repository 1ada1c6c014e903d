"""The chart tests' two batching choices, measured on the real chart.

1. Rendering the values matrix: one `helm template` after another vs webstack.render.render_jobs
   (all sets at once, one helm process each), as the chart tests' module fixtures do.
2. kubeconform: one process per rendered set vs one process for every set (what the chart tests
   do; kubeconform compiles each kind's schema once per process).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path


def run() -> None:
    from rich.console import Console
    from rich.table import Table

    from webstack import helm
    from webstack.checks import crds
    from webstack.checks.kubernetes import kubeconform_schema_location
    from webstack.manifests import dump_stream
    from webstack.paths import CHART_DIR
    from webstack.render import NAMESPACE, RELEASE, render_jobs
    from webstack.toolchain import TOOLS
    from webstack.values import matrix

    sets = matrix(CHART_DIR)
    t = time.monotonic()
    for vs in sets:
        helm.template(helm.Template(CHART_DIR, RELEASE, NAMESPACE, vs.files))
    sequential = time.monotonic() - t
    t = time.monotonic()
    renders = render_jobs({vs.name: (CHART_DIR, vs) for vs in sets})
    concurrent = time.monotonic() - t

    location = kubeconform_schema_location(["1.30"])
    kubeconform = str(TOOLS["kubeconform"].binary())
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, r in renders.items():
            files.append(Path(tmp) / f"{name}.yaml")
            files[-1].write_text(dump_stream(r.manifests))
        cmd = [kubeconform, "-strict", "-summary", "-kubernetes-version", "1.30.0",
               "-schema-location", location, "-schema-location", crds.kubeconform_crd_location()]
        t = time.monotonic()
        for f in files:
            subprocess.run([*cmd, str(f)], capture_output=True, check=True)
        per_file = time.monotonic() - t
        t = time.monotonic()
        subprocess.run([*cmd, *map(str, files)], capture_output=True, check=True)
        batched = time.monotonic() - t

    table = Table(title=f"chart tests: {len(sets)} values sets")
    for col in ("what", "one at a time (s)", "batched (s)", "ratio"):
        table.add_column(col, justify="right" if col != "what" else "left")
    for what, one, many in (("helm template, matrix", sequential, concurrent),
                            ("kubeconform -strict 1.30", per_file, batched)):
        table.add_row(what, f"{one:.2f}", f"{many:.2f}", f"{one / many:.1f}x")
    Console().print(table)
