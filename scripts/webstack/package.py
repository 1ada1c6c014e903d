"""Package the chart into a Helm repository folder: dependency build, package (signed or not), index.

Everything is built in a staging folder next to the output and moved into place only when every
step worked, so a failed run leaves the output folder as it was. The chart source is copied first:
`helm dependency build` writes Chart.lock and charts/*.tgz, and the working tree is not ours to change.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webstack import helm, outputs
from webstack.chart import Chart
from webstack.errors import HelmError, InputError, WebstackError
from webstack.report import Finding
from webstack.yamlfile import load_mapping


class VerificationError(WebstackError):
    """A package failed provenance verification (unsigned, tampered, unknown signer): a result, exit 1."""

    exit_code = 1


class ReleaseRulesBroken(WebstackError):
    """The chart breaks release rules (CHANGELOG, annotations, appVersion...): a result, exit 1."""

    exit_code = 1

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(f"not packaged: {len(findings)} release rule(s) broken")
        self.findings = findings


Rules = Callable[[Path, dict[str, Any]], list[Finding]]


@dataclass(frozen=True)
class SigningKey:
    """A GPG key for `helm package --sign`. Helm reads legacy keyrings only (`gpg --export-secret-keys`)."""

    name: str
    keyring: Path
    passphrase_file: Path | None = None

    def check(self) -> None:
        if not self.name.strip():
            raise InputError("--key is empty: give the signing key's name, e-mail or ID")
        if not self.keyring.is_file():
            raise InputError(f"keyring {self.keyring} does not exist: export the signing key with "
                             f"`gpg --export-secret-keys NAME > {self.keyring}` "
                             "(Helm cannot read pubring.kbx)")
        if self.passphrase_file and not self.passphrase_file.is_file():
            raise InputError(f"passphrase file {self.passphrase_file} does not exist")


@dataclass(frozen=True)
class Packaged:
    chart: Path
    provenance: Path | None
    index: Path
    name: str
    version: str


def load_index(path: Path) -> dict[str, Any]:
    """A Helm repository index.yaml (apiVersion v1, entries: name -> [chart versions])."""
    if not path.is_file():
        raise InputError(f"index to merge {path} does not exist")
    index = load_mapping(path, "repository index")
    if index.get("apiVersion") != "v1":
        raise InputError(f"{path}: .apiVersion: expected 'v1' (a Helm repository index.yaml)")
    entries = index.get("entries")
    if not isinstance(entries, dict):
        raise InputError(f"{path}: .entries: expected a mapping of chart name to versions, "
                         f"got {type(entries).__name__}")
    for name, versions in entries.items():
        if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
            raise InputError(f"{path}: .entries.{name}: expected a list of chart versions")
        for i, v in enumerate(versions):
            if not isinstance(v.get("version"), str):
                raise InputError(f"{path}: .entries.{name}[{i}].version: expected a string")
    return index


def indexed_versions(index: dict[str, Any], name: str) -> list[str]:
    return [v["version"] for v in index.get("entries", {}).get(name, [])]


def check_base_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise InputError(f"--base-url {url!r}: expected an http:// or https:// URL of the chart repository")
    return url.rstrip("/")


def _translate_sign_error(exc: HelmError, key: SigningKey) -> WebstackError:
    text = str(exc)
    if "private key not found" in text:
        return InputError(f"signing key {key.name!r} is not in keyring {key.keyring}: list it with "
                          f"`gpg --show-keys {key.keyring}`, export it with `gpg --export-secret-keys`")
    if "private key checksum failure" in text:
        return InputError(f"the passphrase for key {key.name!r} is wrong"
                          + (f" (read from {key.passphrase_file})" if key.passphrase_file else ""))
    if "inappropriate ioctl" in text:  # helm tried to prompt for a passphrase without a terminal
        return InputError(f"key {key.name!r} has a passphrase and there is no terminal to ask for it: "
                          "pass --passphrase-file FILE (or $WEBSTACK_PASSPHRASE_FILE)")
    if "openpgp" in text and ("invalid" in text or "unsupported" in text):
        return InputError(f"keyring {key.keyring} is not a legacy GPG keyring Helm can read: "
                          f"create it with `gpg --export-secret-keys NAME > {key.keyring}`\n{text}")
    return exc


def _drop_archived_copies(chart: Path) -> None:
    """Remove charts/NAME-VERSION.tgz that `dependency build` made from an in-tree charts/NAME/ folder.

    A `file://charts/NAME` dependency is archived next to its own folder; helm package would then
    store every file of that subchart twice in the package. The folder is the source of truth.
    """
    for archive in (chart / "charts").glob("*.tgz"):
        for folder in (chart / "charts").iterdir():
            sub = folder / "Chart.yaml"
            if not (folder.is_dir() and sub.is_file()):
                continue
            sub_meta = yaml.safe_load(sub.read_text(encoding="utf-8")) or {}
            if archive.name == f"{sub_meta.get('name')}-{sub_meta.get('version')}.tgz":
                archive.unlink()
                break


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def package(chart_dir: Path, output: Path, *, key: SigningKey | None = None, base_url: str | None = None,
            merge: Path | None = None, force: bool = False, rules: Rules | None = None) -> Packaged:
    """Build dependencies, package (and sign) the chart into `output`, and (re)index `output`.

    `rules(chart, meta)` runs on the copy once its dependencies are built (so a render sees them);
    findings raise ReleaseRulesBroken and nothing is packaged.

    `merge` is a published index.yaml: its entries stay listed (with their own URLs), and a version
    already listed there is refused unless `force` (a published version must never change).

    `output` must be new, empty or webstack's (webstack.outputs) unless `force`; the other packages in
    it stay and are indexed too.
    """
    outputs.check_dir(output, force=force)
    meta = Chart.load(chart_dir).meta
    name, version = meta["name"], meta["version"]
    if key:
        key.check()
    url = check_base_url(base_url) if base_url else None
    if merge:
        published = load_index(merge)
        if version in indexed_versions(published, name) and not force:
            raise InputError(f"{merge}: {name} {version} is already published there; bump .version in "
                             f"{chart_dir / 'Chart.yaml'} (or pass --force to replace the listed entry)")
    staging = outputs.temp_dir_beside(output)
    try:
        src = staging / "src" / chart_dir.name
        shutil.copytree(chart_dir, src, symlinks=True, ignore=shutil.ignore_patterns("tmpcharts"))
        if meta.get("dependencies"):
            try:
                helm.dependency_build(src)
            except HelmError as exc:  # name the user's chart, not the staging copy
                raise HelmError(str(exc).replace(str(src), str(chart_dir))) from exc
            _drop_archived_copies(src)
        if rules and (found := rules(src, meta)):
            raise ReleaseRulesBroken([dataclasses.replace(f, file=f.file.replace(str(src), str(chart_dir)))
                                      for f in found])
        pkg_dir = staging / "pkg"
        sign = helm.Signature(key.name, key.keyring, key.passphrase_file) if key else None
        try:
            helm.package(src, pkg_dir, sign=sign)
        except HelmError as exc:
            exc = HelmError(str(exc).replace(str(src), str(chart_dir)))
            raise (_translate_sign_error(exc, key) if key else exc) from exc
        tgz = pkg_dir / f"{name}-{version}.tgz"
        if not tgz.is_file():
            raise HelmError(f"helm package did not write {tgz.name} (found {sorted(os.listdir(pkg_dir))})")
        if key:  # prove the signature before anything is published
            verify(tgz, key.keyring)

        repo = staging / "repo"  # output's other packages plus the new one, indexed together
        repo.mkdir()
        if output.is_dir():
            for old in output.glob("*.tgz"):
                if old.name != tgz.name:
                    _link_or_copy(old, repo / old.name)
        _link_or_copy(tgz, repo / tgz.name)
        helm.repo_index(repo, url=url, merge=merge)

        outputs.open_dir(output)
        os.replace(tgz, output / tgz.name)
        prov = output / f"{tgz.name}.prov"
        if key:
            os.replace(pkg_dir / prov.name, prov)
        else:
            prov.unlink(missing_ok=True)  # a stale signature of an older build would fail verify
        os.replace(repo / "index.yaml", output / "index.yaml")
        return Packaged(output / tgz.name, prov if key else None, output / "index.yaml", name, version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify(tgz: Path, keyring: Path) -> str:
    """`helm verify` with a clear reason on failure (VerificationError, exit 1); returns the signer."""
    if not tgz.is_file():
        raise InputError(f"package {tgz} does not exist")
    if not keyring.is_file():
        raise InputError(f"keyring {keyring} does not exist: export the publisher's public key with "
                         f"`gpg --export NAME > {keyring}`")
    res = helm.verify(tgz, keyring)
    said = (res.stderr or res.stdout).strip()
    if res.returncode == 0:
        signer = next((ln.split(":", 1)[1].strip() for ln in res.stdout.splitlines()
                       if ln.startswith("Signed by:")), "?")
        return signer
    if "could not load provenance file" in said or "no such file" in said:
        reason = f"unsigned: there is no provenance file {tgz.name}.prov next to it (package it with --sign)"
    elif "sum does not match" in said:
        reason = "tampered: its sha256 differs from the digest signed in its .prov file"
    elif "unknown entity" in said:
        reason = f"signed by a key that is not in keyring {keyring}"
    else:
        reason = "verification failed"
    raise VerificationError(f"{tgz}: {reason}\nhelm: {said}")
