"""Version policy and Artifact Hub metadata (appVersion, CHANGELOG, annotations, images), real chart too."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from webstack import changelog
from webstack.chart import Chart
from webstack.checks import release_rules
from webstack.errors import InputError
from webstack.paths import APP_DIR, CHART_DIR, SUBCHARTS


def chart_meta(chart: Path) -> dict:
    return Chart.load(chart).meta


def _rules(chart: Path, app_version: Path | None = None) -> list[str]:
    return [f.rule for f in release_rules.findings(chart, chart_meta(chart), app_version)]


def _edit_chart(chart: Path, edit) -> None:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    edit(meta)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


# -- the real chart -------------------------------------------------------------------------------------


def test_real_chart_meets_every_release_rule(real_chart):
    chart = real_chart
    assert release_rules.findings(chart, chart_meta(chart), APP_DIR / "VERSION") == []


def test_real_chart_app_version_equals_app_version_file(real_chart):
    meta = chart_meta(real_chart)
    assert str(meta["appVersion"]) == (APP_DIR / "VERSION").read_text().strip()


def test_real_chart_annotations_match_changelog_latest_entry(real_chart):
    chart = real_chart
    meta = chart_meta(chart)
    latest = changelog.latest(chart / "CHANGELOG.md")
    assert latest.version == meta["version"]
    changes = yaml.safe_load(meta["annotations"]["artifacthub.io/changes"])
    assert changes == changelog.artifacthub_changes(latest)
    assert all(c["kind"] in changelog.KINDS and c["description"] for c in changes)
    assert meta["annotations"]["artifacthub.io/license"]


def _default_image(chart: Path, sub: str) -> str:
    """registry/repository:tag from the subchart's values.yaml under the umbrella's overrides."""
    sub_dir = chart / "charts" / sub
    image = dict(yaml.safe_load((sub_dir / "values.yaml").read_text())["image"])
    umbrella = yaml.safe_load((chart / "values.yaml").read_text())
    image.update(((umbrella.get(sub) or {}).get("image")) or {})
    registry = umbrella.get("global", {}).get("imageRegistry") or image.get("registry")
    tag = image.get("tag") or yaml.safe_load((sub_dir / "Chart.yaml").read_text())["appVersion"]
    name = f"{registry}/{image['repository']}" if registry else image["repository"]
    return f"{name}@{image['digest']}" if image.get("digest") else f"{name}:{tag}"


def test_real_chart_images_annotation_matches_values_defaults(real_chart):
    chart = real_chart
    meta = chart_meta(chart)
    listed = sorted(i["image"] for i in yaml.safe_load(meta["annotations"]["artifacthub.io/images"]))
    from_values = sorted({_default_image(chart, sub) for sub in SUBCHARTS})
    assert listed == from_values
    assert listed == release_rules.rendered_images(chart)  # and that is what the chart really runs


def test_real_chart_packages_signed_and_verifies(cli, gpg_key, real_chart, tmp_path):
    """The umbrella itself: dependency build, sign, index, verify; every subchart stored once."""
    import tarfile

    out = tmp_path / "dist"
    res = cli("package", "--output", out, "--sign", "--key", gpg_key.name, "--keyring", gpg_key.secring,
              "--base-url", "https://charts.example.invalid")
    assert res.rc == 0, res.err
    meta = chart_meta(CHART_DIR)
    tgz = out / f"webstack-{meta['version']}.tgz"
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert len(names) == len(set(names))
    for sub in SUBCHARTS:
        assert f"webstack/charts/{sub}/Chart.yaml" in names
    assert cli("package", "verify", tgz, "--keyring", gpg_key.pubring).rc == 0


# -- the rules, on the fixture chart --------------------------------------------------------------------


def test_fixture_chart_meets_every_release_rule(demo_chart, app_version):
    assert _rules(demo_chart, app_version) == []


def test_app_version_mismatch_is_found(demo_chart, tmp_path):
    other = tmp_path / "OTHER_VERSION"
    other.write_text("2.0.0\n")
    findings = release_rules.findings(demo_chart, chart_meta(demo_chart), other)
    assert [f.rule for f in findings] == ["CHART-APP-VERSION"]
    assert findings[0].message == 'appVersion "1.0.0" differs from the app\'s VERSION "2.0.0"'


def test_changelog_without_entry_for_chart_version_is_found(demo_chart, app_version):
    _edit_chart(demo_chart, lambda m: m.update(version="1.1.0"))
    assert _rules(demo_chart, app_version) == ["changelog-version"]


def test_changes_annotation_out_of_date_is_found(demo_chart, app_version):
    text = (demo_chart / "CHANGELOG.md").read_text()
    (demo_chart / "CHANGELOG.md").write_text(text.replace("### Added\n", "### Added\n\n- A second change.\n"))
    assert _rules(demo_chart, app_version) == ["artifacthub-changes"]


def test_images_annotation_not_matching_defaults_is_found(demo_chart, app_version):
    values = (demo_chart / "charts" / "web" / "values.yaml").read_text()
    (demo_chart / "charts" / "web" / "values.yaml").write_text(values.replace('"1.37"', '"1.38"'))
    umbrella = (demo_chart / "values.yaml").read_text()
    (demo_chart / "values.yaml").write_text(umbrella.replace('"1.37"', '"1.38"'))
    findings = release_rules.findings(demo_chart, chart_meta(demo_chart), app_version)
    assert [f.rule for f in findings] == ["artifacthub-images"]
    assert "busybox:1.38" in findings[0].message


def test_missing_annotations_are_found(demo_chart, app_version):
    _edit_chart(demo_chart, lambda m: m.pop("annotations"))
    assert sorted(_rules(demo_chart, app_version)) == ["artifacthub-changes", "artifacthub-images",
                                                       "artifacthub-license"]


def test_annotation_that_is_not_a_yaml_list_is_an_input_error(demo_chart, app_version):
    _edit_chart(demo_chart, lambda m: m["annotations"].update({"artifacthub.io/images": "image: x"}))
    match = r"Chart.yaml: \.annotations\.artifacthub\.io/images: expected a YAML list"
    with pytest.raises(InputError, match=match):
        _rules(demo_chart, app_version)


def test_package_refuses_to_build_when_release_rules_are_broken(cli, demo_chart, app_version, tmp_path):
    _edit_chart(demo_chart, lambda m: m.update(version="1.1.0"))
    res = cli("package", "--chart", demo_chart, "--output", tmp_path / "dist",
              "--app-version-file", app_version)
    assert res.rc == 1
    assert "changelog-version" in res.err and "not packaged: 1 release rule(s) broken" in res.err
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("## 1.0.0\n", "expected a release heading"),
    ("## [1.0.0]\n### Added\n- x\n", "has no date"),
    ("## [1.0.0] - 2026-01-01\n### Improved\n- x\n", "expected a section heading"),
    ("## [1.0.0] - 2026-01-01\n- x\n", "is not under a release and section heading"),
    ("# Changelog\n", "no released version"),
])
def test_malformed_changelog_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "CHANGELOG.md"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        changelog.latest(path)
    assert str(path) in str(info.value)


def test_changelog_parses_sections_and_wrapped_bullets(tmp_path):
    path = tmp_path / "CHANGELOG.md"
    path.write_text("# Changelog\n\n## [Unreleased]\n\n### Added\n\n- not yet\n\n"
                    "## [1.1.0] - 2026-02-01\n\n### Fixed\n\n- one long line\n  wrapped here.\n\n"
                    "### Security\n\n- patched\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- first\n")
    releases = changelog.parse(path)
    assert [r.version for r in releases] == ["1.1.0", "1.0.0"]
    assert changelog.artifacthub_changes(releases[0]) == [
        {"kind": "fixed", "description": "one long line wrapped here."},
        {"kind": "security", "description": "patched"},
    ]


def test_version_bump_rule_is_shared_with_lint(cli, real_chart, tmp_path):
    """`--base-ref` runs webstack.versioning's rule (the one `webstack lint` uses); a bad ref is exit 2."""
    res = cli("package", "--output", tmp_path / "dist", "--base-ref", "no-such-ref-anywhere")
    assert res.rc == 2
    assert "--base-ref 'no-such-ref-anywhere': not a commit" in res.err


def test_annotations_command_prints_what_chart_yaml_must_carry(cli, demo_chart):
    res = cli("package", "--chart", demo_chart, "annotations")
    assert res.rc == 0, res.err
    printed = yaml.safe_load(res.out)["annotations"]
    carried = chart_meta(demo_chart)["annotations"]
    changes = "artifacthub.io/changes"
    assert yaml.safe_load(printed[changes]) == yaml.safe_load(carried[changes])
    images = yaml.safe_load(printed["artifacthub.io/images"])
    assert images == [{"name": "busybox", "image": "docker.io/library/busybox:1.37"}]
    # the fixture names its image differently; only the image references must agree
    assert [i["image"] for i in yaml.safe_load(carried["artifacthub.io/images"])] == [images[0]["image"]]


def test_changed_chart_without_version_bump_is_not_packaged(cli, demo_chart, app_version, tmp_path):
    """The shared bump rule, against a throwaway git repository (the project checkout is never touched)."""
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    chart = repo / "charts" / "demo"
    shutil.copytree(demo_chart, chart)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "1.0.0"]):
        subprocess.run([*git, *cmd], check=True, capture_output=True)
    base = ("package", "--chart", chart, "--app-version-file", app_version, "--base-ref", "main")

    assert cli(*base, "--output", tmp_path / "unchanged").rc == 0  # nothing changed: no bump needed
    (chart / "templates" / "configmap.yaml").write_text(
        (chart / "templates" / "configmap.yaml").read_text() + "  extra: \"1\"\n")
    res = cli(*base, "--output", tmp_path / "changed")
    assert res.rc == 1
    assert "CHART-VERSION-BUMP" in res.err and "1 release rule(s) broken" in res.err
    assert not (tmp_path / "changed").exists()

    _edit_chart(chart, lambda m: m.update(version="1.0.1"))
    log = (chart / "CHANGELOG.md").read_text()
    entry = "## [1.0.1] - 2026-11-29\n\n### Changed\n\n- The ConfigMap carries an extra key.\n\n"
    (chart / "CHANGELOG.md").write_text(log.replace("## [1.0.0]", entry + "## [1.0.0]"))
    _edit_chart(chart, lambda m: m["annotations"].update({"artifacthub.io/changes": yaml.safe_dump(
        [{"kind": "changed", "description": "The ConfigMap carries an extra key."}], sort_keys=False)}))
    bumped = cli(*base, "--output", tmp_path / "bumped")
    assert bumped.rc == 0, bumped.err
