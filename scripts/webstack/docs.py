"""Generated chart docs: READMEs by helm-docs from values.yaml `# --` comments and README.md.gotmpl, and
the `definitions` of every values.schema.json from the one source of shared shapes (webstack.schema_defs).

helm-docs runs on a scratch copy of the chart tree, so checking never touches the working tree and
writing swaps in only complete files. The lint command calls `stale()`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from webstack import schema_defs
from webstack.chart import Chart
from webstack.errors import InputError, ToolchainError
from webstack.outputs import write_file
from webstack.paths import CHART_DIR
from webstack.toolchain import TOOLS

TEMPLATE = "README.md.gotmpl"


def chart_dirs(root: Path = CHART_DIR) -> list[Path]:
    """The chart at `root` and every chart below it (subcharts), each with its README template."""
    Chart.load(root)  # a missing or broken chart: InputError naming the file and line
    charts = sorted({p.parent for p in root.rglob("Chart.yaml")})
    missing = [c for c in charts if not (c / TEMPLATE).is_file()]
    if missing:
        raise InputError(
            f"{missing[0] / TEMPLATE}: missing; every chart needs a README template "
            "(the values table comes from `{{ template \"chart.valuesSection\" . }}`)"
        )
    return charts


def _helm_docs() -> Path:
    binary = TOOLS["helm-docs"].binary()
    if not binary.is_file():
        raise ToolchainError(f"helm-docs is not built ({binary}): run `make setup`")
    return binary


def generate(root: Path = CHART_DIR) -> dict[Path, str]:
    """README path (in the real tree) -> the text helm-docs generates for it now."""
    charts = chart_dirs(root)
    with tempfile.TemporaryDirectory(prefix="webstack-docs-") as tmp:
        scratch = Path(tmp) / root.name
        shutil.copytree(root, scratch, ignore=shutil.ignore_patterns("README.md", "*.tgz"))
        res = subprocess.run(
            [str(_helm_docs()), "--chart-search-root", str(scratch), "--template-files", TEMPLATE,
             "--sort-values-order", "file", "--log-level", "warning"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if res.returncode != 0:
            raise InputError(f"helm-docs failed on {root}:\n{(res.stderr or res.stdout).strip()}")
        out: dict[Path, str] = {}
        for chart in charts:
            generated = scratch / chart.relative_to(root) / "README.md"
            if not generated.is_file():
                raise ToolchainError(f"helm-docs wrote no README for {chart}")
            text = generated.read_text()
            if bare := undocumented(text):
                raise InputError(
                    f"{chart / 'values.yaml'}: no `# --` description for {', '.join(bare)}; "
                    "every value is documented in values.yaml (the README table is generated from it)"
                )
            out[chart / "README.md"] = text
        return out


def undocumented(readme: str) -> list[str]:
    """Keys whose row in the generated values table has an empty description.

    helm-docs' own --documentation-strict-mode (v1.14.2) reports documented keys as undocumented,
    so the generated table is checked instead.
    """
    keys = []
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 4 and cells[0] not in ("Key", "") and not cells[-1]:
            keys.append(cells[0])
    return keys


def stale_readmes(root: Path = CHART_DIR) -> list[Path]:
    """READMEs whose content differs from what `webstack docs --write` would write (missing counts)."""
    return [p for p, text in generate(root).items() if not p.is_file() or p.read_text() != text]


def stale_schemas(root: Path = CHART_DIR) -> list[Path]:
    """Values schemas whose `definitions` differ from the shared shapes they name."""
    return [p for p, text in schema_defs.generate(chart_dirs(root)).items() if p.read_text() != text]


STALE = {
    "README.md": "values table is stale",
    schema_defs.SCHEMA: f"definitions differ from scripts/webstack/data/{schema_defs.SOURCE.name} (edit the "
    "shapes there, not their copy)",
}


def stale(root: Path = CHART_DIR) -> list[Path]:
    """Every generated file that differs from what `webstack docs --write` would write (STALE says why)."""
    return stale_readmes(root) + stale_schemas(root)


def write(root: Path = CHART_DIR) -> list[Path]:
    """Regenerate every README and every schema's definitions; returns the files that changed."""
    changed = [path for path, text in generate(root).items() if _replace(path, text)]
    known = schema_defs.shapes()
    for chart in chart_dirs(root):
        path = chart / schema_defs.SCHEMA
        text = schema_defs.render(path, known)  # read just before the write: the rest is edited by hand
        if text is not None and _replace(path, text):
            changed.append(path)
    return changed


def _replace(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text() == text:
        return False
    write_file(path, text)
    return True
