"""The app image published to a real registry (Debian's docker-registry on 127.0.0.1), pulled back with
buildah into a private storage, its digest recorded and held against the chart by the release rules.

The image is the one `webstack images build` makes from app/Dockerfile (reused from the image cache when
app/ did not change; a cold build takes a minute or two and needs buildah, as `make setup` installs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from webstack.checks import release_rules
from webstack.images import record
from webstack.paths import APP_DIR
from webstack.servers import LOOPBACK

VERSION = (APP_DIR / "VERSION").read_text().strip()


def _path(tmp_path: Path) -> str:
    return tmp_path.name.lower().replace("_", "-").strip("-")


@pytest.fixture
def pushed(cli, oci_registry, tmp_path):
    """`webstack images push` of the app image to a path of its own; (result, registry, record)."""
    registry = f"{LOOPBACK}:{oci_registry.port}/{_path(tmp_path)}"
    rec = tmp_path / "dist" / "images.json"
    res = cli("images", "push", "--registry", registry, "--plain-http", "--record", rec)
    assert res.rc == 0, res.err
    return res, registry, rec


def _buildah_pull(ref: str, root: Path) -> str:
    """Pull `ref` into a private buildah storage; the digest buildah stored it under."""
    base = ["buildah", "--root", str(root / "storage"), "--runroot", str(root / "run"),
            "--storage-driver", "vfs"]
    subprocess.run([*base, "pull", "--quiet", "--tls-verify=false", f"docker://{ref}"], check=True,
                   capture_output=True, text=True, timeout=300)
    out = subprocess.run([*base, "images", "--digests", "--format", "{{.Digest}}"], check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0]


def test_app_image_pushed_recorded_and_pulled_back_with_the_same_digest(pushed, oci_registry, tmp_path):
    res, registry, rec = pushed
    repository = f"{registry}/webstack/app"
    assert res.out.startswith(f"pushed {repository}:{VERSION} (sha256:")
    digest = res.out.split("(", 1)[1].split(")", 1)[0]
    assert "push" in res.err and "done in" in res.err  # progress on stderr

    doc = json.loads(rec.read_text())
    assert doc["generator"] == "webstack"
    (entry,) = doc["images"]
    assert entry["repository"] == repository and entry["tag"] == VERSION and entry["digest"] == digest
    assert entry["source"] == f"localhost/webstack/app:{VERSION}"

    # the registry serves that manifest under the tag
    path = repository.split("/", 1)[1]
    head = requests.head(f"http://{LOOPBACK}:{oci_registry.port}/v2/{path}/manifests/{VERSION}", timeout=10,
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert head.headers["Docker-Content-Digest"] == digest

    pulled_root = tmp_path / "pulled"
    try:
        assert _buildah_pull(f"{repository}:{VERSION}", pulled_root) == digest
    finally:
        shutil.rmtree(pulled_root, ignore_errors=True)


def test_pushing_an_existing_tag_is_refused_unless_forced(cli, pushed):
    _, registry, rec = pushed
    again = cli("images", "push", "--registry", registry, "--plain-http", "--record", rec)
    assert again.rc == 2
    assert f"{registry}/webstack/app:{VERSION} already exists" in again.err and "--force" in again.err
    forced = cli("images", "push", "--registry", registry, "--plain-http", "--record", rec, "--force")
    assert forced.rc == 0, forced.err
    assert forced.out.startswith(f"pushed {registry}/webstack/app:{VERSION} (sha256:")
    digest = forced.out.split("(", 1)[1].split(")", 1)[0]
    (entry,) = json.loads(rec.read_text())["images"]  # the same tag's entry replaced, not added
    assert entry["digest"] == digest


def test_record_file_not_written_by_webstack_is_kept(cli, oci_registry, tmp_path):
    rec = tmp_path / "images.json"
    rec.write_text("mine\n")
    res = cli("images", "push", "--registry", f"{LOOPBACK}:{oci_registry.port}/x", "--plain-http",
              "--record", rec)
    assert res.rc == 2 and "webstack did not write it" in res.err
    assert rec.read_text() == "mine\n"


def _chart_copy(real_chart: Path, tmp_path: Path, image: dict) -> Path:
    """The real chart with flask.image overridden, its images annotation made to match."""
    copy = tmp_path / "src" / "webstack"
    shutil.copytree(real_chart, copy, ignore=shutil.ignore_patterns("tmpcharts", "*.tgz"))
    values = yaml.safe_load((copy / "values.yaml").read_text())
    values["flask"]["image"] = image
    (copy / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    images = release_rules.expected_annotations(copy)["artifacthub.io/images"]
    meta["annotations"]["artifacthub.io/images"] = yaml.safe_dump(images, sort_keys=False)
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return copy


def test_release_rules_hold_the_chart_image_against_the_record(cli, pushed, real_chart, tmp_path):
    _, registry, rec = pushed
    digest = json.loads(rec.read_text())["images"][0]["digest"]
    common = ("--app-version-file", APP_DIR / "VERSION", "--images-record", rec)

    # the real chart's default (webstack/app on Docker Hub) is not what was published
    res = cli("package", "--output", tmp_path / "out-default", *common)
    assert res.rc == 1, res.err
    assert "app-image-published" in res.err and "not packaged: 1 release rule(s) broken" in res.err
    (found,) = release_rules.published_image_findings(real_chart, rec, record.load(rec))
    assert f"webstack/app:{VERSION} is not in {rec}" in found.message
    assert not (tmp_path / "out-default" / f"webstack-{VERSION}.tgz").exists()

    # pointed at the published image: packaged
    chart = _chart_copy(real_chart, tmp_path / "ok", {"registry": registry})
    ok = cli("package", "--chart", chart, "--output", tmp_path / "out-ok", *common)
    assert ok.rc == 0, ok.err

    # pinned to a digest the registry never served under that name
    wrong = "sha256:" + "0" * 64
    bad = _chart_copy(real_chart, tmp_path / "bad", {"registry": registry, "digest": wrong})
    res = cli("package", "--chart", bad, "--output", tmp_path / "out-bad", *common)
    assert res.rc == 1 and "app-image-published" in res.err
    (found,) = release_rules.published_image_findings(bad, rec, record.load(rec))
    assert "pins a different digest" in found.message and wrong in found.message
    pinned = _chart_copy(real_chart, tmp_path / "pinned", {"registry": registry, "digest": digest})
    assert cli("package", "--chart", pinned, "--output", tmp_path / "out-pinned", *common).rc == 0


def test_record_in_the_output_folder_is_read_by_default(cli, pushed, real_chart, tmp_path):
    _, _, rec = pushed  # tmp_path/dist/images.json, a webstack folder now
    res = cli("package", "--output", rec.parent, "--app-version-file", APP_DIR / "VERSION")
    assert res.rc == 1 and "app-image-published" in res.err
    note = cli("package", "--output", tmp_path / "elsewhere", "--app-version-file", APP_DIR / "VERSION")
    assert note.rc == 0, note.err
    assert "not checked against a published image" in note.err
