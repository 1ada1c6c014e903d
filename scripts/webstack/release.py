"""Release rules a chart package must meet before it is published.

- appVersion equals the app's VERSION file;
- CHANGELOG.md's newest release is the chart version, and `artifacthub.io/changes` lists its changes;
- `artifacthub.io/images` lists exactly the images the chart renders with its default values;
- `artifacthub.io/license` is set; `artifacthub.io/links`, when present, is a list of {name, url}.
The version-bump rule (chart files changed against a git base) lives in webstack.versioning, shared
with `webstack lint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webstack import changelog
from webstack.errors import InputError
from webstack.lint import app_version_rule
from webstack.report import Finding
from webstack.yamlfile import read_text

CHECK = "release"


def _finding(chart_yaml: Path, path: str, rule: str, message: str) -> Finding:
    return Finding(file=str(chart_yaml), object="Chart.yaml", path=path, rule=rule, message=message,
                   check=CHECK)


def annotation_list(meta: dict[str, Any], key: str, chart_yaml: Path) -> list[Any] | None:
    """An Artifact Hub annotation holding a YAML list (as a string); None when absent."""
    raw = (meta.get("annotations") or {}).get(key)
    if raw is None:
        return None
    try:
        value = yaml.safe_load(raw) if isinstance(raw, str) else raw
    except yaml.YAMLError as exc:
        raise InputError(f"{chart_yaml}: .annotations.{key}: not valid YAML inside the string: "
                         f"{exc}") from exc
    if not isinstance(value, list):
        raise InputError(f"{chart_yaml}: .annotations.{key}: expected a YAML list in a string, "
                         f"got {type(value).__name__}")
    return value


def rendered_images(chart_dir: Path) -> list[str]:
    """Every container image the chart renders with its default values (hooks and tests included)."""
    from webstack.manifests import containers, pod_template
    from webstack.render import render_all
    from webstack.values import ValuesSet

    images: set[str] = set()
    for r in render_all(chart_dir, [ValuesSet("default")]).values():
        for m in r.manifests:
            tpl = pod_template(m)
            for _, c in containers((tpl or {}).get("spec") or {}):
                if c.get("image"):
                    images.add(str(c["image"]))
    return sorted(images)


def expected_annotations(chart_dir: Path) -> dict[str, list[dict[str, str]]]:
    """What `changes` and `images` must say, derived from CHANGELOG.md and the rendered chart."""
    from webstack.chart import Chart

    Chart.load(chart_dir)  # a broken chart is named as such, not as a missing CHANGELOG
    latest = changelog.latest(chart_dir / "CHANGELOG.md")
    images = [{"name": image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0], "image": image}
              for image in rendered_images(chart_dir)]
    return {"artifacthub.io/changes": changelog.artifacthub_changes(latest), "artifacthub.io/images": images}


def findings(chart_dir: Path, meta: dict[str, Any], app_version_file: Path | None = None) -> list[Finding]:
    """Release-rule violations of the chart at `chart_dir` (Chart.yaml already parsed as `meta`)."""
    chart_yaml = chart_dir / "Chart.yaml"
    out: list[Finding] = []
    if app_version_file is not None:
        app_version = read_text(app_version_file, "app version").strip()
        if found := app_version_rule(chart_yaml, meta, app_version):
            out.append(found)

    latest = changelog.latest(chart_dir / "CHANGELOG.md")
    if latest.version != meta["version"]:
        out.append(_finding(chart_dir / "CHANGELOG.md", f"line {latest.line}", "changelog-version",
                            f"the newest CHANGELOG release is [{latest.version}], but the chart version is "
                            f"{meta['version']}: add a '## [{meta['version']}] - YYYY-MM-DD' entry"))

    changes = annotation_list(meta, "artifacthub.io/changes", chart_yaml)
    want_changes = changelog.artifacthub_changes(latest)
    if changes is None:
        out.append(_finding(chart_yaml, ".annotations.artifacthub.io/changes", "artifacthub-changes",
                            "missing; it must list the changes of CHANGELOG's newest release"))
    elif changes != want_changes:
        out.append(_finding(chart_yaml, ".annotations.artifacthub.io/changes", "artifacthub-changes",
                            f"does not match CHANGELOG [{latest.version}]: expected {want_changes}, "
                            f"got {changes}"))

    images = annotation_list(meta, "artifacthub.io/images", chart_yaml)
    rendered = rendered_images(chart_dir)
    if images is None:
        out.append(_finding(chart_yaml, ".annotations.artifacthub.io/images", "artifacthub-images",
                            f"missing; the chart renders {rendered}"))
    else:
        listed = sorted(str(i.get("image")) for i in images if isinstance(i, dict))
        if listed != rendered or not all(isinstance(i, dict) and i.get("name") for i in images):
            out.append(_finding(chart_yaml, ".annotations.artifacthub.io/images", "artifacthub-images",
                                f"lists {listed}, but the chart renders {rendered} with its default values "
                                "(each entry needs a name and an image)"))

    if not str((meta.get("annotations") or {}).get("artifacthub.io/license", "")).strip():
        out.append(_finding(chart_yaml, ".annotations.artifacthub.io/license", "artifacthub-license",
                            "missing; set an SPDX identifier such as Apache-2.0"))
    links = annotation_list(meta, "artifacthub.io/links", chart_yaml)
    if links is not None and not all(isinstance(i, dict) and i.get("name") and i.get("url") for i in links):
        out.append(_finding(chart_yaml, ".annotations.artifacthub.io/links", "artifacthub-links",
                            "each link needs a name and a url"))
    return out
