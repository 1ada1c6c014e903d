"""`webstack images build`: real buildah builds, their archives, the cache, the chart overlay, the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from webstack import helm, images
from webstack.errors import ImageBuildError
from webstack.paths import APP_DIR, CHART_DIR, REPO_ROOT
from webstack.render import RELEASE

pytestmark = pytest.mark.images
POD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob", "Pod"}


def test_every_image_is_an_archive_named_by_its_ref(built):
    names = sorted(i.name for i in built.images)
    assert names == sorted(["pause", "app", "app", "mysql", "nginx"])
    assert images.PAUSE_REF in [i.ref for i in built.images]
    for image in built.images:
        assert image.archive.is_file() and image.archive.is_relative_to(images.images_dir())
        manifest, _config = images.read_archive(image.archive)
        assert manifest["RepoTags"] == [image.ref]
    assert {built.one("app", v).ref for v in built.versions} == {f"localhost/webstack/app:{v}"
                                                                 for v in built.versions}


def test_progress_is_one_line_per_stage_with_seconds(built):
    if any(i.built for i in built.images):
        assert any("mmdebstrap" in line or "buildah bud" in line for line in built.lines), built.lines
        assert all(line.endswith("s") or "cached" in line for line in built.lines), built.lines


def test_a_second_build_reuses_every_archive_quickly(built):
    start = time.monotonic()
    again = images.build(built.versions, progress=lambda _msg: None)
    elapsed = time.monotonic() - start
    assert [(i.ref, i.archive) for i in again] == [(i.ref, i.archive) for i in built.images]
    assert not any(i.built for i in again)
    assert elapsed < 2, f"cached build took {elapsed:.1f}s"


def test_image_users_entrypoints_and_labels(built):
    def config(name: str, version: str = "") -> dict:
        return images.read_archive(built.one(name, version).archive)[1]["config"]

    pause = config("pause")
    assert pause["User"] == "65535:65535" and pause["Entrypoint"] == ["/pause"]
    assert built.one("pause").archive.stat().st_size < 5 * 2**20
    for version in built.versions:
        app = config("app", version)
        assert app["User"] == "10001:10001"
        assert f"APP_VERSION={version}" in app["Env"]
        labels = app["Labels"]
        assert labels["org.opencontainers.image.title"] == "webstack-app"  # the Dockerfile's own labels
        assert labels["org.opencontainers.image.version"] == version
        assert labels["io.webstack.built-locally"] == "true"
        assert labels["org.opencontainers.image.base.name"].startswith("localhost/webstack/debian-python:")
    mysql, nginx = config("mysql"), config("nginx")
    assert mysql["User"] == "999:999" and nginx["User"] == "101:101"
    assert nginx["StopSignal"] == "SIGQUIT" and nginx["Cmd"] == ["nginx", "-g", "daemon off;"]
    for name, official in (("mysql", "docker.io/library/mysql:8.4"),
                           ("nginx", "docker.io/nginxinc/nginx-unprivileged:1.28-alpine")):
        image = built.one(name)
        labels = config(name)["Labels"]
        assert image.stands_in_for == official and image.ref.startswith("localhost/webstack-standin/")
        assert labels["io.webstack.stand-in-for"] == official
        description = labels["org.opencontainers.image.description"]
        assert description.startswith(f"stand-in for {official} built from")


def test_substitutions_name_each_stand_in(built):
    lines = images.substitutions(built.images)
    assert lines == [
        "docker.io/library/mysql:8.4 -> localhost/webstack-standin/mysql:8.4 (MariaDB 10.11 from Debian)",
        "docker.io/nginxinc/nginx-unprivileged:1.28-alpine -> "
        "localhost/webstack-standin/nginx-unprivileged:1.28 (nginx 1.22 from Debian)",
    ]


def _containers(docs: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for doc in docs:
        if doc.get("kind") not in POD_KINDS:
            continue
        spec = doc["spec"]
        spec = spec.get("jobTemplate", {}).get("spec", spec)
        pod = spec.get("template", {}).get("spec", spec)
        for c in pod.get("initContainers", []) + pod["containers"]:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}", c))
    return out


@pytest.mark.parametrize("version_index", [0, 1])
def test_chart_with_the_overlay_renders_exactly_the_built_refs(built, tmp_path, version_index):
    version = built.versions[version_index]
    overlay = tmp_path / "images.yaml"
    overlay.write_text(yaml.safe_dump(images.chart_values_overlay(built.images, version)))
    out = helm.run(["template", RELEASE, str(CHART_DIR), "--values", str(overlay),
                    "--set", "mysql.backup.enabled=true,mysql.restore.enabled=true"]).stdout
    containers = _containers([d for d in yaml.safe_load_all(out) if d])
    expected = {"flask": built.one("app", version).ref, "mysql": built.one("mysql").ref,
                "nginx": built.one("nginx").ref}
    seen = {c["image"] for _, c in containers}
    assert seen == set(expected.values()), seen
    for where, c in containers:
        assert c["imagePullPolicy"] == "Never", where
    kinds = {where.split("/")[0] for where, _ in containers}
    assert kinds == POD_KINDS, kinds  # test pod, migration Job, backup CronJob, restore Job covered


def _broken_app(tmp_path: Path) -> Path:
    broken = tmp_path / "app"
    shutil.copytree(APP_DIR, broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "Dockerfile").write_text(
        "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE} AS runtime\nRUN echo broken-on-purpose && exit 3\n")
    return broken


def _entries() -> set[Path]:
    """Cache entries (and staging folders); the build logs stay, the error names them."""
    return {p for name in ("base", "pause", "app", "mysql", "nginx")
            for p in (images.images_dir() / name).glob("*")}


def test_a_failed_build_raises_and_leaves_no_cache_entry(built, tmp_path):
    before = _entries()
    with pytest.raises(ImageBuildError) as caught:
        images.build(["9.9.9"], app_dir=_broken_app(tmp_path), progress=lambda _msg: None)
    err = caught.value
    assert err.image == "app 9.9.9" and err.returncode != 0
    assert "bud" in err.command and "broken-on-purpose" in err.tail
    assert "app 9.9.9" in str(err) and "broken-on-purpose" in str(err)
    assert _entries() == before  # no entry, no staging folder left behind


def _webstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900, check=False)


def test_cli_prints_a_table(built):
    res = _webstack("images", "build", *(f"--app-version={v}" for v in built.versions))
    assert res.returncode == 0, res.stderr
    for image in built.images:
        assert image.ref in res.stdout
    assert "cached" in res.stdout and "docker.io/library/mysql:8.4" in res.stdout


def test_cli_values_prints_the_overlay(built):
    res = _webstack("images", "values", f"--app-version={built.versions[0]}")
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout) == images.chart_values_overlay(built.images, built.versions[0])


def test_cli_broken_input_exits_2_with_one_line(built, tmp_path):
    res = _webstack("images", "build", "--app-version=9.9.8", f"--app-dir={_broken_app(tmp_path)}")
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "app 9.9.8" in errors[0] and "broken-on-purpose" in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_a_changed_app_file_rebuilds_only_that_app_image(built, tmp_path):
    changed = tmp_path / "app"
    shutil.copytree(APP_DIR, changed, ignore=shutil.ignore_patterns("__pycache__"))
    with (changed / "webstack_app" / "__init__.py").open("a") as f:
        f.write("# a change the cache key must see\n")
    (changed / "README.md").write_text("not in the build context: no effect on the key\n")
    version = built.versions[0]
    result = images.build([version], app_dir=changed, progress=lambda _msg: None)
    try:
        assert {i.name: i.built for i in result} == {"pause": False, "app": True, "mysql": False,
                                                     "nginx": False}
        app = next(i for i in result if i.name == "app")
        assert app.ref == built.one("app", version).ref and app.archive != built.one("app", version).archive
    finally:
        # Put the real app image back as the entry for this tag (the changed one replaced it).
        images.build([version], progress=lambda _msg: None)
