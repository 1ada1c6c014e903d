"""Provenance: `webstack package --sign` and `webstack package verify` with a throwaway GPG key.

Verification failures (unsigned, tampered, unknown signer) exit 1, like any check that says no;
missing files or keys are input errors and exit 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dist_helpers import GpgKey, helm, make_key, rewrite_package, tree


@pytest.fixture
def signed(cli, demo_chart, app_version, gpg_key, tmp_path) -> Path:
    out = tmp_path / "dist"
    res = cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version,
              "--sign", "--key", gpg_key.name, "--keyring", gpg_key.secring)
    assert res.rc == 0, res.err
    assert "signed (demo-1.0.0.tgz.prov)" in res.out
    return out / "demo-1.0.0.tgz"


def test_signed_package_verifies_with_webstack_and_helm(cli, signed, gpg_key):
    prov = signed.with_name(signed.name + ".prov")
    assert "BEGIN PGP SIGNATURE" in prov.read_text()
    res = cli("package", "verify", signed, "--keyring", gpg_key.pubring)
    assert res.rc == 0, res.err
    assert f"signed by {gpg_key.name} <signer@webstack.invalid>" in res.out
    assert "Chart Hash Verified" in helm("verify", signed, "--keyring", gpg_key.pubring).stdout


def test_tampered_package_fails_verification(cli, signed, gpg_key):
    rewrite_package(signed, lambda name, data: data.replace(b"busybox", b"evil/busybox")
                    if name.endswith("/values.yaml") else data)
    res = cli("package", "verify", signed, "--keyring", gpg_key.pubring)
    assert res.rc == 1
    assert "tampered: its sha256 differs from the digest signed" in res.err


def test_unsigned_package_fails_verification(cli, demo_chart, app_version, gpg_key, tmp_path):
    out = tmp_path / "dist"
    assert cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version).rc == 0
    res = cli("package", "verify", out / "demo-1.0.0.tgz", "--keyring", gpg_key.pubring)
    assert res.rc == 1
    assert "unsigned: there is no provenance file demo-1.0.0.tgz.prov" in res.err


def test_package_signed_by_another_key_fails_verification(cli, signed, other_key):
    res = cli("package", "verify", signed, "--keyring", other_key.pubring)
    assert res.rc == 1
    assert "signed by a key that is not in keyring" in res.err


def test_unsigned_rebuild_removes_a_stale_signature(cli, signed, demo_chart, app_version):
    res = cli("package", "--chart", demo_chart, "--output", signed.parent, "--app-version-file", app_version)
    assert res.rc == 0, res.err
    assert not signed.with_name(signed.name + ".prov").exists()


def test_missing_key_is_an_input_error_and_writes_nothing(cli, demo_chart, app_version, gpg_key, tmp_path):
    out = tmp_path / "dist"
    res = cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version,
              "--sign", "--key", "nobody-has-this-key", "--keyring", gpg_key.secring)
    assert res.rc == 2
    assert f"signing key 'nobody-has-this-key' is not in keyring {gpg_key.secring}" in res.err
    assert tree(out) == {}


def test_missing_keyring_and_missing_key_name_are_input_errors(cli, demo_chart, app_version, tmp_path):
    base = ("package", "--chart", demo_chart, "--output", tmp_path / "dist",
            "--app-version-file", app_version)
    res = cli(*base, "--key", "someone", "--keyring", tmp_path / "secring.gpg")
    assert res.rc == 2 and f"keyring {tmp_path / 'secring.gpg'} does not exist" in res.err
    res = cli(*base, "--sign")
    assert res.rc == 2 and "--sign needs --key NAME" in res.err


def test_verify_missing_package_or_keyring_is_an_input_error(cli, signed, gpg_key, tmp_path):
    res = cli("package", "verify", tmp_path / "none.tgz", "--keyring", gpg_key.pubring)
    assert res.rc == 2 and "does not exist" in res.err
    res = cli("package", "verify", signed, "--keyring", tmp_path / "pubring.gpg")
    assert res.rc == 2 and f"keyring {tmp_path / 'pubring.gpg'} does not exist" in res.err


@pytest.fixture(scope="session")
def protected_key(tmp_path_factory: pytest.TempPathFactory) -> GpgKey:
    return make_key(tmp_path_factory.mktemp("gpg-protected") / "home", "protected signer",
                    "protected@webstack.invalid", passphrase="correct horse")


def test_key_with_passphrase_signs_from_a_passphrase_file(cli, demo_chart, app_version, protected_key,
                                                          tmp_path):
    base = ("package", "--chart", demo_chart, "--app-version-file", app_version,
            "--key", protected_key.name, "--keyring", protected_key.secring)
    good, bad = tmp_path / "pass", tmp_path / "wrong"
    good.write_text("correct horse\n")
    bad.write_text("battery staple\n")

    res = cli(*base, "--output", tmp_path / "ok", "--passphrase-file", good)
    assert res.rc == 0, res.err
    tgz = tmp_path / "ok" / "demo-1.0.0.tgz"
    assert cli("package", "verify", tgz, "--keyring", protected_key.pubring).rc == 0

    wrong = cli(*base, "--output", tmp_path / "wrong-out", "--passphrase-file", bad)
    assert wrong.rc == 2
    assert f"the passphrase for key 'protected signer' is wrong (read from {bad})" in wrong.err
    none = cli(*base, "--output", tmp_path / "none-out")
    assert none.rc == 2 and "pass --passphrase-file FILE" in none.err
    assert not (tmp_path / "wrong-out").exists() and not (tmp_path / "none-out").exists()


def test_make_package_signs_when_the_environment_names_a_key(cli, demo_chart, app_version, gpg_key, tmp_path,
                                                             monkeypatch):
    """`make package` runs plain `webstack package --output dist`: the key comes from the environment."""
    monkeypatch.setenv("WEBSTACK_SIGNING_KEY", gpg_key.name)
    monkeypatch.setenv("WEBSTACK_KEYRING", str(gpg_key.secring))
    monkeypatch.setenv("WEBSTACK_REPO_URL", "https://charts.example.invalid/env")
    out = tmp_path / "dist"
    res = cli("package", "--chart", demo_chart, "--output", out, "--app-version-file", app_version)
    assert res.rc == 0, res.err
    assert (out / "demo-1.0.0.tgz.prov").is_file()
    assert "https://charts.example.invalid/env/demo-1.0.0.tgz" in (out / "index.yaml").read_text()
