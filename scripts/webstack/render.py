"""Render the chart once per values set, concurrently, through pyhelm3's command runner.

pyhelm3's template() parses the YAML and drops helm's `# Source:` comments, so the raw runner of the
same Command is used and manifests.parse_stream keeps the source of every object.
"""

from __future__ import annotations

import asyncio
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


def _args(chart_dir: Path, vs: ValuesSet, release: str, namespace: str) -> list[str]:
    args = ["template", release, str(chart_dir), "--namespace", namespace]
    for f in vs.files:
        args += ["--values", str(f)]
    return args


async def _render_one(command, chart_dir: Path, vs: ValuesSet, release: str, namespace: str) -> Render:
    from pyhelm3 import errors as pyhelm_errors

    try:
        out = await command.run(_args(chart_dir, vs, release, namespace))
    except pyhelm_errors.Error as exc:
        # helm's own words name the template file and line, `template: webstack/templates/x.yaml:3:5: ...`
        msg = exc.stderr.decode(errors="replace").strip()
        raise HelmError(
            f"rendering {chart_dir} with values set {vs.name!r} "
            f"({', '.join(map(str, vs.files)) or 'chart defaults'}) failed:\n{msg}"
        ) from exc
    return Render(vs, parse_stream(out.decode()))


def render_jobs(
    jobs: dict[str, tuple[Path, ValuesSet]], *, release: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, Render]:
    """Every (chart, values set) rendered concurrently, each once; label -> Render, in the order given."""
    for chart_dir, vs in jobs.values():
        ensure_chart(chart_dir)
        for f in vs.files:
            values.load(f)  # missing, a folder, not UTF-8, bad YAML: InputError naming file and line
    command = helm.client()._command  # the raw runner: keeps `# Source:` lines

    async def go() -> list[Render]:
        return await asyncio.gather(
            *(_render_one(command, c, vs, release, namespace) for c, vs in jobs.values())
        )

    return dict(zip(jobs, asyncio.run(go()), strict=True))


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
