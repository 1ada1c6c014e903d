"""Render the chart once per values set, concurrently (webstack.helm.template_many).

helm's `# Source:` comments are kept, so manifests.parse_stream knows the template of every object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webstack import helm, outputs, values
from webstack.chart import Chart
from webstack.errors import HelmError
from webstack.manifests import Manifest, dump_stream, parse_stream
from webstack.values import ValuesSet

RELEASE = "webstack"
NAMESPACE = "webstack"


@dataclass(frozen=True)
class Render:
    values_set: ValuesSet
    manifests: list[Manifest]


def ensure_chart(chart_dir: Path) -> None:
    Chart.load(chart_dir)  # a missing or broken chart: InputError naming the file and line


def render_jobs(
    jobs: dict[str, tuple[Path, ValuesSet]], *, release: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, Render]:
    """Every (chart, values set) rendered concurrently, each once; label -> Render, in the order given."""
    for chart_dir, vs in jobs.values():
        ensure_chart(chart_dir)
        for f in vs.files:
            values.load(f)  # missing, a folder, not UTF-8, bad YAML: InputError naming file and line
    calls = [helm.Template(c, release, namespace, vs.files) for c, vs in jobs.values()]
    renders: dict[str, Render] = {}
    for label, (chart_dir, vs), res in zip(jobs, jobs.values(), helm.template_many(calls), strict=True):
        if res.returncode != 0:  # helm's own words name the template file and line
            raise HelmError(
                f"rendering {chart_dir} with values set {vs.name!r} "
                f"({', '.join(map(str, vs.files)) or 'chart defaults'}) failed:\n{res.stderr.strip()}"
            )
        renders[label] = Render(vs, parse_stream(res.stdout))
    return renders


def render_all(chart_dir: Path, sets: list[ValuesSet], **kw: str) -> dict[str, Render]:
    """Every values set of one chart; set name -> Render."""
    return render_jobs({vs.name: (chart_dir, vs) for vs in sets}, **kw)


def write_dir(renders: dict[str, Render], output: Path, *, force: bool = False) -> None:
    """One folder per values set, one file per source template; the whole tree swaps in at once, over
    a folder that is new, empty or an earlier render's (or anything, with `force`; see webstack.outputs)."""

    def fill(tree: Path) -> None:
        for name, r in renders.items():
            by_source: dict[str, list[Manifest]] = {}
            for m in r.manifests:
                by_source.setdefault(m.source, []).append(m)
            for source, items in by_source.items():
                dest = tree / name / source
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(dump_stream(items))

    outputs.replace_dir(output, fill, force=force)


def stream(renders: dict[str, Render]) -> str:
    """All sets on stdout; a comment line names each set."""
    return "".join(f"# values set: {name}\n{dump_stream(r.manifests)}" for name, r in renders.items())
