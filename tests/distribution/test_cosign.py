"""Signed OCI releases: the app image and the chart signed with cosign (key-based, offline: no
transparency log, no Sigstore service, a dead proxy for everything but 127.0.0.1), verified after a
pull; an unsigned, tampered or foreign-key artifact fails. The Helm provenance (.prov) travels with
the chart as a layer, and the chart is pulled and rendered by digest.

What the local registry (Debian's docker-registry, distribution 2.8) gets: cosign v3 writes a
Sigstore bundle as an OCI 1.1 artifact (artifactType application/vnd.dev.sigstore.bundle.v0.3+json)
and, as the registry has no referrers API (GET /v2/<name>/referrers/<digest> is 404), indexes it
under the referrers *tag schema*: an OCI index tagged `sha256-<hex>`, not the legacy `<hex>.sig`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml
from dist_helpers import helm, rewrite_package

from webstack import cosign
from webstack.errors import InputError
from webstack.paths import APP_DIR
from webstack.servers import LOOPBACK

VERSION = (APP_DIR / "VERSION").read_text().strip()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
PROV_LAYER = "application/vnd.cncf.helm.chart.provenance.v1.prov"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _path(tmp_path: Path) -> str:
    return tmp_path.name.lower().replace("_", "-").strip("-")


def _api(registry, path: str) -> str:
    return f"http://{LOOPBACK}:{registry.port}/v2/{path}"


def _manifest(registry, name: str, ref: str, accept: str = OCI_MANIFEST) -> tuple[str, dict]:
    resp = requests.get(_api(registry, f"{name}/manifests/{ref}"), headers={"Accept": accept}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.headers["Docker-Content-Digest"], resp.json()


def _tags(registry, name: str) -> list[str]:
    return requests.get(_api(registry, f"{name}/tags/list"), timeout=10).json().get("tags") or []


def _signature_layout(registry, name: str, digest: str) -> str:
    """Where cosign put the signature of `digest`: 'referrers-api', 'referrers-tag' or 'sig-tag'."""
    hexd = digest.removeprefix("sha256:")
    if requests.get(_api(registry, f"{name}/referrers/{digest}"), timeout=10).status_code == 200:
        return "referrers-api"
    tags = _tags(registry, name)
    if f"sha256-{hexd}" in tags:
        _, index = _manifest(registry, name, f"sha256-{hexd}", OCI_INDEX)
        assert index["mediaType"] == OCI_INDEX
        assert [m.get("artifactType") for m in index["manifests"]] == [BUNDLE]
        return "referrers-tag"
    return "sig-tag" if f"sha256-{hexd}.sig" in tags else "none"


def test_signed_app_image_verifies_after_a_pull(cli, oci_registry, cosign_keys, offline, tmp_path):
    with offline():
        registry = f"{LOOPBACK}:{oci_registry.port}/{_path(tmp_path)}"
        rec = tmp_path / "dist" / "images.json"
        res = cli("images", "push", "--registry", registry, "--plain-http", "--record", rec,
                  "--cosign-key", cosign_keys.key)
        assert res.rc == 0, res.err
        (entry,) = json.loads(rec.read_text())["images"]
        repository, digest = entry["repository"], entry["digest"]
        assert entry["signed"] is True
        assert f"signed {repository}@{digest} with {cosign_keys.key}" in res.out
        assert "cosign sign" in res.err  # a progress line for the signing stage

        name = repository.split("/", 1)[1]
        assert _signature_layout(oci_registry, name, digest) == "referrers-tag"

        # pulled back: the tag still resolves to the signed digest, and the signature holds for it
        served, _ = _manifest(oci_registry, name, VERSION)
        assert served == digest
        for ref in (f"{repository}:{VERSION}", f"{repository}@{digest}"):
            (payload,) = cosign.verify(ref, cosign_keys.pub, plain_http=True)
            assert payload["critical"]["image"]["docker-manifest-digest"] == digest

        # tampered: the same tag now names a manifest that differs by one annotation
        _, manifest = _manifest(oci_registry, name, VERSION)
        manifest.setdefault("annotations", {})["org.example.tampered"] = "yes"
        put = requests.put(_api(oci_registry, f"{name}/manifests/{VERSION}"), data=json.dumps(manifest),
                           headers={"Content-Type": OCI_MANIFEST}, timeout=10)
        assert put.status_code == 201, put.text
        with pytest.raises(cosign.VerificationError, match="no signatures found"):
            cosign.verify(f"{repository}:{VERSION}", cosign_keys.pub, plain_http=True)
        cosign.verify(f"{repository}@{digest}", cosign_keys.pub, plain_http=True)  # the original still holds


def test_unsigned_or_foreign_key_image_fails_verification(cli, oci_registry, cosign_keys, offline, tmp_path):
    with offline():
        registry = f"{LOOPBACK}:{oci_registry.port}/{_path(tmp_path)}"
        res = cli("images", "push", "--registry", registry, "--plain-http", "--record", tmp_path / "r.json")
        assert res.rc == 0, res.err
        ref = f"{registry}/webstack/app:{VERSION}"
        with pytest.raises(cosign.VerificationError, match="no signatures found") as err:
            cosign.verify(ref, cosign_keys.pub, plain_http=True)
        assert err.value.exit_code == 1

        other = tmp_path / "other"
        other.mkdir()
        _, other_pub = cosign.generate_key_pair(other)
        digest = json.loads((tmp_path / "r.json").read_text())["images"][0]["digest"]
        cosign.sign(f"{registry}/webstack/app@{digest}", other / "cosign.key", plain_http=True)
        cosign.verify(ref, other_pub, plain_http=True)
        with pytest.raises(cosign.VerificationError, match="signature"):
            cosign.verify(ref, cosign_keys.pub, plain_http=True)
        with pytest.raises(InputError, match="by digest"):
            cosign.sign(ref, cosign_keys.key, plain_http=True)


def test_bad_cosign_key_is_an_input_error_before_anything_is_pushed(cli, oci_registry, cosign_keys, tmp_path,
                                                                     monkeypatch):
    registry = f"{LOOPBACK}:{oci_registry.port}/{_path(tmp_path)}"
    bad_keys = ((tmp_path / "none.key", "does not exist"), (cosign_keys.pub, "not a cosign private key"))
    for key, said in bad_keys:
        res = cli("images", "push", "--registry", registry, "--plain-http", "--record", tmp_path / "r.json",
                  "--cosign-key", key)
        assert res.rc == 2 and said in res.err
        assert len(res.err.strip().splitlines()) == 1
    with monkeypatch.context() as m:
        m.setenv("COSIGN_PASSWORD", "not-the-password")
        res = cli("images", "push", "--registry", registry, "--plain-http", "--record", tmp_path / "r.json",
                  "--cosign-key", cosign_keys.key)
    assert res.rc == 2 and "COSIGN_PASSWORD is not its password" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert _tags(oci_registry, f"{_path(tmp_path)}/webstack/app") == []


@pytest.fixture
def signed_chart(cli, demo_chart, app_version, gpg_key, tmp_path) -> Path:
    out = tmp_path / "dist"
    res = cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version,
              "--sign", "--key", gpg_key.name, "--keyring", gpg_key.secring)
    assert res.rc == 0, res.err
    return out / "demo-1.0.0.tgz"


def test_signed_chart_carries_its_prov_verifies_and_renders_by_digest(cli, oci_registry, cosign_keys, offline,
                                                                       signed_chart, gpg_key, tmp_path):
    with offline():
        url = f"{oci_registry.url}/{_path(tmp_path)}"
        res = cli("package", "push", signed_chart, "--registry", url, "--plain-http",
                  "--cosign-key", cosign_keys.key)
        assert res.rc == 0, res.err
        assert "with its provenance (.prov)" in res.out
        digest = res.out.split("(", 1)[1].split(")", 1)[0]
        repository = f"{url.removeprefix('oci://')}/demo"
        assert f"signed {repository}@{digest}" in res.out

        # Helm 4 pushed the .prov as a layer of the chart's manifest, next to the chart itself
        name = repository.split("/", 1)[1]
        served, manifest = _manifest(oci_registry, name, "1.0.0")
        assert served == digest
        layers = {la["mediaType"]: la for la in manifest["layers"]}
        assert set(layers) == {PROV_LAYER, "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}
        prov = signed_chart.with_name(signed_chart.name + ".prov").read_bytes()
        blob = requests.get(_api(oci_registry, f"{name}/blobs/{layers[PROV_LAYER]['digest']}"), timeout=10)
        assert blob.content == prov
        assert _signature_layout(oci_registry, name, digest) == "referrers-tag"

        # a consumer: helm pull --verify (the .prov from the registry, the publisher's GPG key) ...
        pulled = tmp_path / "pulled"
        pulled.mkdir()
        out = helm("pull", f"{url}/demo", "--version", "1.0.0", "--plain-http", "--verify", "--keyring",
                   gpg_key.pubring, "--destination", pulled)
        assert "Signed by: webstack test signer" in out.stdout + out.stderr
        assert (pulled / "demo-1.0.0.tgz").read_bytes() == signed_chart.read_bytes()
        # ... cosign verify of the chart's manifest ...
        (payload,) = cosign.verify(f"{repository}:1.0.0", cosign_keys.pub, plain_http=True)
        assert payload["critical"]["image"]["docker-manifest-digest"] == digest
        # ... and pull + template by digest
        by_digest = tmp_path / "by-digest"
        by_digest.mkdir()
        helm("pull", f"{url}/demo@{digest}", "--plain-http", "--destination", by_digest)
        (tgz,) = by_digest.glob("*.tgz")
        assert tgz.read_bytes() == signed_chart.read_bytes()
        rendered = list(yaml.safe_load_all(helm("template", "rel", tgz).stdout))
        assert any(doc and doc.get("kind") == "Deployment" for doc in rendered)


def test_tampered_chart_fails_both_verifications(cli, oci_registry, cosign_keys, offline, signed_chart,
                                                 gpg_key, tmp_path):
    with offline():
        url = f"{oci_registry.url}/{_path(tmp_path)}"
        res = cli("package", "push", signed_chart, "--registry", url, "--plain-http",
                  "--cosign-key", cosign_keys.key)
        assert res.rc == 0, res.err
        repository = f"{url.removeprefix('oci://')}/demo"
        cosign.verify(f"{repository}:1.0.0", cosign_keys.pub, plain_http=True)

        # someone replaces the chart under the same tag (the .prov beside it now lies about its sha256)
        rewrite_package(signed_chart, lambda n, data: data.replace(b"busybox", b"evil/busybox")
                        if n.endswith("/values.yaml") else data)
        forced = cli("package", "push", signed_chart, "--registry", url, "--plain-http", "--force")
        assert forced.rc == 0, forced.err
        with pytest.raises(cosign.VerificationError, match="no signatures found"):
            cosign.verify(f"{repository}:1.0.0", cosign_keys.pub, plain_http=True)
        pulled = tmp_path / "pulled"
        pulled.mkdir()
        bad = helm("pull", f"{url}/demo", "--version", "1.0.0", "--plain-http", "--verify", "--keyring",
                   gpg_key.pubring, "--destination", pulled, check=False)
        assert bad.returncode != 0 and "sha256 sum does not match" in bad.stderr
