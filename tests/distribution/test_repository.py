"""A chart repository served by real nginx: helm repo add, search, pull (verified), template."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from dist_helpers import helm, rewrite_package


def _publish(cli, chart: Path, server, app_version: Path, gpg_key, *extra: str | Path) -> None:
    res = cli("package", "--chart", chart, "--output", server.root, "--app-version-file", app_version,
              "--base-url", server.url, "--sign", "--key", gpg_key.name, "--keyring", gpg_key.secring, *extra)
    assert res.rc == 0, res.err


def test_repo_add_search_pull_verify_and_template(cli, demo_chart, app_version, gpg_key, chart_repo_server,
                                                  tmp_path):
    server = chart_repo_server
    for old in server.root.iterdir():
        old.unlink()
    # an older release already published (its package is still served), then the new one merged in
    helm("package", demo_chart, "--version", "0.9.0", "--destination", server.root)
    helm("repo", "index", server.root, "--url", server.url)
    published = tmp_path / "published-index.yaml"
    shutil.copy(server.root / "index.yaml", published)
    # the folder holds what helm (not webstack) wrote: writing into it takes --force
    _publish(cli, demo_chart, server, app_version, gpg_key, "--merge", published, "--force")

    helm("repo", "add", "wsdemo", server.url)
    found = yaml.safe_load(helm("search", "repo", "wsdemo/demo", "--versions", "--output", "yaml").stdout)
    assert [(f["name"], f["version"]) for f in found] == [("wsdemo/demo", "1.0.0"), ("wsdemo/demo", "0.9.0")]

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    # --verify fetches the .prov over HTTP from nginx and checks it against the public key
    out = helm("pull", "wsdemo/demo", "--version", "1.0.0", "--verify", "--keyring", gpg_key.pubring,
               "--destination", pulled)
    assert "Signed by: webstack test signer" in out.stdout + out.stderr
    tgz = pulled / "demo-1.0.0.tgz"
    assert tgz.read_bytes() == (server.root / "demo-1.0.0.tgz").read_bytes()
    assert helm("pull", "wsdemo/demo", "--version", "0.9.0", "--destination", pulled).returncode == 0

    rendered = list(yaml.safe_load_all(helm("template", "rel", tgz).stdout))
    kinds = sorted(d["kind"] for d in rendered if d)
    assert kinds == ["ConfigMap", "Deployment"]


def test_pull_verify_rejects_a_tampered_package_served_by_the_repo(cli, demo_chart, app_version, gpg_key,
                                                                   chart_repo_server, tmp_path):
    server = chart_repo_server
    for old in server.root.iterdir():
        old.unlink()
    _publish(cli, demo_chart, server, app_version, gpg_key)
    tgz = server.root / "demo-1.0.0.tgz"
    rewrite_package(tgz)  # same files, new bytes: the signed digest no longer matches
    helm("repo", "add", "wstamper", server.url, "--force-update")
    res = helm("pull", "wstamper/demo", "--version", "1.0.0", "--verify", "--keyring", gpg_key.pubring,
               "--destination", tmp_path, check=False)
    assert res.returncode != 0
    assert "sha256 sum does not match" in res.stderr


def test_real_chart_from_the_repo_passes_the_static_gate(cli, gpg_key, chart_repo_server, real_chart,
                                                         tmp_path):
    """The umbrella chart, published signed to the nginx repo, pulled back, verified, and gated."""
    server = chart_repo_server
    for old in server.root.iterdir():
        old.unlink()
    res = cli("package", "--output", server.root, "--base-url", server.url, "--sign", "--key", gpg_key.name,
              "--keyring", gpg_key.secring)
    assert res.rc == 0, res.err
    version = yaml.safe_load((real_chart / "Chart.yaml").read_text())["version"]

    helm("repo", "add", "webstack-local", server.url, "--force-update")
    found = yaml.safe_load(helm("search", "repo", "webstack-local/webstack", "--output", "yaml").stdout)
    assert [(f["name"], f["version"]) for f in found] == [("webstack-local/webstack", version)]
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm("pull", "webstack-local/webstack", "--version", version, "--verify", "--keyring", gpg_key.pubring,
         "--untar", "--untardir", pulled)

    gate = cli("check", "--chart", pulled / "webstack", "--format", "json")
    assert gate.rc == 0, f"the static gate failed on the pulled chart:\n{gate.out}\n{gate.err}"
    assert "objects" in gate.err  # the gate's summary line: it rendered and checked the chart
