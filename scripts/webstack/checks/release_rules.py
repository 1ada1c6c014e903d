"""Release rules a chart package must meet before it is published (`webstack package` runs them).

- appVersion equals the app's VERSION file;
- CHANGELOG.md's newest release is the chart version, and `artifacthub.io/changes` lists its changes;
- `artifacthub.io/images` lists exactly the images the chart renders with its default values;
- `artifacthub.io/license` is set; `artifacthub.io/links`, when present, is a list of {name, url};
- with a record of published images (`webstack images push` writes dist/images.json): the chart's
  default app image (flask.image: registry/repository, tag or appVersion, or digest) is one the
  record has, with the same digest when the chart pins one.
The version-bump rule (chart files changed against a git base) lives in webstack.versioning, shared
with `webstack lint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from webstack import changelog
from webstack.checks.chart_rules import app_version_rule
from webstack.errors import InputError
from webstack.report import Finding
from webstack.yamlfile import read_text

if TYPE_CHECKING:
    from webstack.images.record import Published

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


def findings(chart_dir: Path, meta: dict[str, Any], app_version_file: Path | None = None,
             published: tuple[Path, list[Published]] | None = None) -> list[Finding]:
    """Release-rule violations of the chart at `chart_dir` (Chart.yaml already parsed as `meta`).

    `published`: (record file, its entries) to hold the chart's default app image against.
    """
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
    if published is not None:
        out += published_image_findings(chart_dir, *published)
    return out


@dataclass(frozen=True)
class ChartImage:
    """The chart's default app image, as its image helper builds the reference."""

    registry: str    # global.imageRegistry, else image.registry ("" = none)
    repository: str  # image.repository, e.g. webstack/app
    tag: str         # image.tag, else the flask chart's appVersion
    digest: str      # image.digest ("" = none); wins over the tag
    values_file: Path  # the values.yaml that sets the block
    path: str        # its dotted path there: .flask.image (umbrella) or .image (the flask chart)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag}"


def _values(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(read_text(path, "values file")) if path.is_file() else {}
    return doc if isinstance(doc, dict) else {}


def app_image(chart_dir: Path) -> ChartImage | None:
    """The default app image of the umbrella (flask subchart + its `flask.image` overrides) or of the
    flask chart alone; None for a chart without one."""
    from webstack.chart import Chart

    sub = chart_dir / "charts" / "flask"
    if (sub / "Chart.yaml").is_file():
        umbrella = _values(chart_dir / "values.yaml")
        over = ((umbrella.get("flask") or {}).get("image")) or {}
        values_file, path = chart_dir / "values.yaml", ".flask.image"
    elif Chart.load(chart_dir).meta.get("name") == "flask":
        sub, umbrella, over = chart_dir, {}, {}
        values_file, path = chart_dir / "values.yaml", ".image"
    else:
        return None
    own = _values(sub / "values.yaml")
    image = {**(own.get("image") or {}), **over}
    if not image.get("repository"):
        return None
    global_registry = ((umbrella.get("global") or {}).get("imageRegistry")
                       or (own.get("global") or {}).get("imageRegistry") or "")
    app_version = str(Chart.load(sub).meta.get("appVersion") or "")
    return ChartImage(str(global_registry or image.get("registry") or ""), str(image["repository"]),
                      str(image.get("tag") or app_version), str(image.get("digest") or ""), values_file, path)


def canonical(name: str) -> str:
    """A repository as a registry sees it: `webstack/app` is docker.io/webstack/app, `app` is
    docker.io/library/app (what `helm install` pulls when no registry is set)."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if rest else f"docker.io/library/{name}"


def published_image_findings(chart_dir: Path, record_file: Path, entries: list[Published]) -> list[Finding]:
    """The chart's default app image must be one the record says was published (same digest)."""
    image = app_image(chart_dir)
    if image is None:
        return []
    same_repo = [e for e in entries if canonical(e.repository) == canonical(image.name)]
    listed = ", ".join(e.reference for e in entries) or "no images"

    def finding(message: str) -> list[Finding]:
        return [Finding(file=str(image.values_file), object="values.yaml", path=image.path,
                        rule="app-image-published", message=message, check=CHECK)]

    if not same_repo:
        return finding(f"the chart's default app image {image} is not in {record_file}, which lists "
                       f"{listed}: push it (`webstack images push --registry HOST/PATH`) and set "
                       f"{image.path.lstrip('.')}.registry to that HOST/PATH")
    if image.digest:
        if any(e.digest == image.digest for e in same_repo):
            return []
        at_tag = [e for e in same_repo if e.tag == image.tag]
        shown = ", ".join(e.reference for e in (at_tag or same_repo))
        return finding(f"the chart's default app image {image} pins a different digest than the one "
                       f"published in {record_file} ({shown}): set {image.path.lstrip('.')}.digest to the "
                       "published digest")
    if any(e.tag == image.tag for e in same_repo):
        return []
    return finding(f"the chart's default app image {image} is not in {record_file}: tag {image.tag} of "
                   f"{image.name} was never pushed ({record_file} lists {listed}); push --app-version "
                   f"{image.tag} or set {image.path.lstrip('.')}.tag")
