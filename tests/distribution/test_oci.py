"""OCI: push to a real registry (Debian's docker-registry), pull and show values back; no silent overwrite."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import requests
import yaml
from dist_helpers import helm, process_uid, show_values

from webstack.servers import LOOPBACK, free_port


@pytest.fixture
def packaged(cli, demo_chart, app_version, tmp_path) -> Path:
    out = tmp_path / "dist"
    res = cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version)
    assert res.rc == 0, res.err
    return out / "demo-1.0.0.tgz"


def _tags(registry, name: str) -> list[str]:
    resp = requests.get(f"http://{LOOPBACK}:{registry.port}/v2/charts/{name}/tags/list", timeout=10)
    return resp.json().get("tags") or [] if resp.status_code == 200 else []


def _digest(registry, name: str, tag: str) -> str:
    resp = requests.head(f"http://{LOOPBACK}:{registry.port}/v2/charts/{name}/manifests/{tag}", timeout=10,
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status_code == 200
    return resp.headers["Docker-Content-Digest"]


def test_push_then_pull_and_show_values(cli, packaged, oci_registry, demo_chart, tmp_path):
    # a name no other test pushes, so the test does not depend on order
    chart = tmp_path / "src" / "ocipull"
    meta = yaml.safe_load((demo_chart / "Chart.yaml").read_text())
    meta["name"] = "ocipull"
    demo_chart.rename(chart)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    tgz = Path(helm("package", chart, "--destination", tmp_path / "pkg").stdout.split(": ")[-1].strip())

    res = cli("package", "push", tgz, "--registry", oci_registry.url, "--plain-http")
    assert res.rc == 0, res.err
    assert f"pushed {oci_registry.url}/ocipull:1.0.0 (sha256:" in res.out
    assert _tags(oci_registry, "ocipull") == ["1.0.0"]

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm("pull", f"{oci_registry.url}/ocipull", "--version", "1.0.0", "--plain-http", "--destination", pulled)
    assert (pulled / "ocipull-1.0.0.tgz").read_bytes() == tgz.read_bytes()
    shown = show_values(f"{oci_registry.url}/ocipull", "1.0.0")
    assert yaml.safe_load(shown) == yaml.safe_load((chart / "values.yaml").read_text())
    with tarfile.open(pulled / "ocipull-1.0.0.tgz") as tar:
        assert "ocipull/charts/web/Chart.yaml" in tar.getnames()


def test_pushing_an_existing_version_is_refused_unless_forced(cli, packaged, oci_registry):
    first = cli("package", "push", packaged, "--registry", oci_registry.url, "--plain-http")
    assert first.rc == 0, first.err
    digest = _digest(oci_registry, "demo", "1.0.0")

    again = cli("package", "push", packaged, "--registry", oci_registry.url, "--plain-http")
    assert again.rc == 2
    assert f"{oci_registry.url}/demo:1.0.0 already exists" in again.err
    assert "refused" in again.err and "--force" in again.err
    assert _digest(oci_registry, "demo", "1.0.0") == digest  # nothing was overwritten

    forced = cli("package", "push", packaged, "--registry", oci_registry.url, "--plain-http", "--force")
    assert forced.rc == 0, forced.err
    assert forced.out.startswith(f"replaced {oci_registry.url}/demo:1.0.0")


def test_unreachable_registry_is_an_error_not_a_missing_version(cli, packaged):
    port = free_port()  # nothing listens there
    res = cli("package", "push", packaged, "--registry", f"oci://{LOOPBACK}:{port}/charts", "--plain-http")
    assert res.rc == 2
    assert f"cannot ask oci://{LOOPBACK}:{port}/charts whether demo 1.0.0 exists" in res.err


@pytest.mark.parametrize("ref", ["http://127.0.0.1:5000/charts", "127.0.0.1:5000/charts", "oci://"])
def test_bad_registry_reference_is_an_input_error(cli, packaged, ref):
    res = cli("package", "push", packaged, "--registry", ref, "--plain-http")
    assert res.rc == 2 and "expected oci://HOST[:PORT]/PATH" in res.err


def test_push_of_a_missing_package_is_an_input_error(cli, oci_registry, tmp_path):
    res = cli("package", "push", tmp_path / "none-1.0.0.tgz", "--registry", oci_registry.url, "--plain-http")
    assert res.rc == 2 and "does not exist" in res.err


def test_local_servers_listen_on_loopback_and_do_not_run_as_root(oci_registry, chart_repo_server):
    assert process_uid(oci_registry.process.pid) != 0
    assert process_uid(chart_repo_server.pid) != 0
    assert requests.get(f"http://{LOOPBACK}:{oci_registry.port}/v2/", timeout=10).status_code == 200
    assert requests.get(f"{chart_repo_server.url}/absent.yaml", timeout=10).status_code == 404


def test_real_chart_round_trips_through_the_registry(cli, oci_registry, real_chart, tmp_path):
    res = cli("package", "--output", tmp_path / "dist")
    assert res.rc == 0, res.err
    (tgz,) = (tmp_path / "dist").glob("webstack-*.tgz")
    version = tgz.name.removeprefix("webstack-").removesuffix(".tgz")
    # a path of its own, so a rerun against the session registry is not a duplicate
    registry = f"{oci_registry.url}/real-{tmp_path.name}".lower().replace("_", "-")  # helm warns on "_"
    pushed = cli("package", "push", tgz, "--registry", registry, "--plain-http")
    assert pushed.rc == 0, pushed.err
    shown = show_values(f"{registry}/webstack", version)
    assert yaml.safe_load(shown) == yaml.safe_load((real_chart / "values.yaml").read_text())
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm("pull", f"{registry}/webstack", "--version", version, "--plain-http", "--destination", pulled)
    assert (pulled / tgz.name).read_bytes() == tgz.read_bytes()
