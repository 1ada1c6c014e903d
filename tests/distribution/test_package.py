"""`webstack package`: dependency build, helm package, repository index with a base URL and merging."""

from __future__ import annotations

import tarfile
from pathlib import Path

import yaml
from dist_helpers import helm, tree

BASE = "https://charts.example.invalid/webstack"


def _index(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _package(cli, chart: Path, out: Path, app_version: Path, *extra: str | Path):
    return cli("package", "--chart", chart, "--output", out, "--app-version-file", app_version, *extra)


def test_packages_umbrella_with_built_dependencies_and_indexes_with_base_url(cli, demo_chart, app_version,
                                                                              tmp_path):
    out = tmp_path / "dist"
    res = _package(cli, demo_chart, out, app_version, "--base-url", BASE + "/")
    assert res.rc == 0, res.err
    assert "packaged demo 1.0.0" in res.out
    tgz = out / "demo-1.0.0.tgz"
    with tarfile.open(tgz) as tar:
        names = tar.getnames()
    assert "demo/Chart.lock" in names  # helm dependency build ran
    assert "demo/charts/web/templates/deployment.yaml" in names
    assert len(names) == len(set(names)), "an in-tree subchart was stored twice (folder and archive)"
    assert not (out / "demo-1.0.0.tgz.prov").exists()
    entry = _index(out / "index.yaml")["entries"]["demo"]
    assert [e["version"] for e in entry] == ["1.0.0"]
    assert entry[0]["urls"] == [f"{BASE}/demo-1.0.0.tgz"]
    # the source chart is untouched: dependency build ran on a copy
    assert not (demo_chart / "Chart.lock").exists()
    # what was packaged renders
    rendered = helm("template", "x", tgz).stdout
    assert "docker.io/library/busybox:1.37" in rendered


def test_merge_keeps_older_versions_listed_with_their_urls(cli, demo_chart, app_version, tmp_path):
    published = tmp_path / "published"
    old = demo_chart.parent / "old"
    helm("package", demo_chart, "--version", "0.9.0", "--destination", old)
    helm("repo", "index", old, "--url", "https://old.example.invalid/charts")
    out = tmp_path / "dist"
    published.mkdir()
    (published / "index.yaml").write_bytes((old / "index.yaml").read_bytes())

    res = _package(cli, demo_chart, out, app_version, "--base-url", BASE, "--merge", published / "index.yaml")
    assert res.rc == 0, res.err
    assert "demo 1.0.0, 0.9.0" in res.out
    entries = {e["version"]: e for e in _index(out / "index.yaml")["entries"]["demo"]}
    assert set(entries) == {"1.0.0", "0.9.0"}
    assert entries["0.9.0"]["urls"] == ["https://old.example.invalid/charts/demo-0.9.0.tgz"]
    assert entries["1.0.0"]["urls"] == [f"{BASE}/demo-1.0.0.tgz"]
    assert not (out / "demo-0.9.0.tgz").exists()  # listed, not copied


def test_packages_already_in_output_stay_indexed(cli, demo_chart, app_version, tmp_path):
    out = tmp_path / "dist"
    helm("package", demo_chart, "--version", "0.9.0", "--destination", out)
    refused = _package(cli, demo_chart, out, app_version)  # helm, not webstack, made the folder
    assert refused.rc == 2 and "demo-0.9.0.tgz" in refused.err and "--force" in refused.err
    res = _package(cli, demo_chart, out, app_version, "--force")
    assert res.rc == 0, res.err
    versions = [e["version"] for e in _index(out / "index.yaml")["entries"]["demo"]]
    assert sorted(versions) == ["0.9.0", "1.0.0"]


def test_version_already_published_in_merge_index_is_refused_unless_forced(cli, demo_chart, app_version,
                                                                            tmp_path):
    first = tmp_path / "first"
    assert _package(cli, demo_chart, first, app_version).rc == 0
    out = tmp_path / "dist"
    res = _package(cli, demo_chart, out, app_version, "--merge", first / "index.yaml")
    assert res.rc == 2
    assert "demo 1.0.0 is already published" in res.err and "bump .version" in res.err
    assert not out.exists()
    forced = _package(cli, demo_chart, out, app_version, "--merge", first / "index.yaml", "--force")
    assert forced.rc == 0, forced.err


def test_missing_chart_dir_is_a_clear_error(cli, tmp_path, app_version):
    res = _package(cli, tmp_path / "nope", tmp_path / "dist", app_version)
    assert res.rc == 2
    assert f"{tmp_path / 'nope'}: chart directory does not exist" in res.err
    assert not (tmp_path / "dist").exists()


def test_folder_without_chart_yaml_is_a_clear_error(cli, tmp_path, app_version):
    (tmp_path / "empty").mkdir()
    res = _package(cli, tmp_path / "empty", tmp_path / "dist", app_version)
    assert res.rc == 2 and "not a chart (no Chart.yaml)" in res.err


def test_bad_merge_index_names_file_and_path_and_writes_nothing(cli, demo_chart, app_version, tmp_path):
    out = tmp_path / "dist"
    assert _package(cli, demo_chart, out, app_version).rc == 0
    before = tree(out)
    bad = tmp_path / "bad-index.yaml"
    bad.write_text("apiVersion: v1\nentries: [1, 2]\n")
    res = _package(cli, demo_chart, out, app_version, "--merge", bad)
    assert res.rc == 2
    assert f"{bad}: .entries: expected a mapping" in res.err
    missing = _package(cli, demo_chart, out, app_version, "--merge", tmp_path / "none.yaml")
    assert missing.rc == 2 and "none.yaml does not exist" in missing.err
    assert tree(out) == before


def test_bad_base_url_is_refused(cli, demo_chart, app_version, tmp_path):
    res = _package(cli, demo_chart, tmp_path / "dist", app_version, "--base-url", "charts.example.invalid")
    assert res.rc == 2 and "expected an http:// or https:// URL" in res.err


def test_failed_dependency_build_leaves_output_as_it_was(cli, demo_chart, app_version, tmp_path):
    out = tmp_path / "dist"
    assert _package(cli, demo_chart, out, app_version).rc == 0
    before = tree(out)
    meta = yaml.safe_load((demo_chart / "Chart.yaml").read_text())
    meta["dependencies"].append({"name": "absent", "version": "1.0.0", "repository": "file://../absent"})
    (demo_chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    res = _package(cli, demo_chart, out, app_version)
    assert res.rc == 2
    assert f"helm dependency build {demo_chart}` failed" in res.err  # the user's chart, not the staging copy
    assert "absent" in res.err
    assert tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging cleaned up
