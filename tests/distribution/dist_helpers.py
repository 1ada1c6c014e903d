"""Helpers the distribution tests share (a module, not conftest, so tests can import it by name)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def helm(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real helm (the toolkit's resolution), inside the tier's private helm homes."""
    from webstack import helm as helm_layer

    return helm_layer.run([str(a) for a in args], check=check)


def tree(path: Path) -> dict[str, bytes]:
    """Every file under path and its bytes: to prove a failed run changed nothing."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def rewrite_package(tgz: Path, edit: Callable[[str, bytes], bytes] = lambda name, data: data) -> None:
    """Repack a chart package in place, passing each file through `edit`: new bytes, same names."""
    with tarfile.open(tgz) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    with tarfile.open(tgz, "w:gz", compresslevel=1) as tar:
        for m, data in members:
            if data is not None:
                data = edit(m.name, data)
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)


def process_uid(pid: int) -> int:
    """The real uid of a running process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


@dataclass(frozen=True)
class GpgKey:
    name: str
    secring: Path  # legacy secret keyring, what `helm package --sign` reads
    pubring: Path  # public keyring, what `helm verify` reads


def make_key(home: Path, name: str, email: str, passphrase: str = "") -> GpgKey:
    """A throwaway key (no passphrase unless given), exported as legacy keyrings."""
    if not shutil.which("gpg"):
        pytest.fail("gpg not found: `make setup` installs gnupg; signing cannot be tested without it",
                    pytrace=False)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    protection = f"Passphrase: {passphrase}\n" if passphrase else "%no-protection\n"
    # Ed25519: generated instantly even on a loaded machine; Helm's OpenPGP library signs with it.
    params = (f"Key-Type: EDDSA\nKey-Curve: ed25519\nName-Real: {name}\nName-Email: {email}\n"
              f"Expire-Date: 0\n{protection}%commit\n")
    made = subprocess.run(["gpg", "--batch", "--gen-key"], input=params, text=True, env=env, check=False,
                          capture_output=True)
    if made.returncode != 0:
        pytest.fail(f"gpg could not generate a throwaway key in {home}:\n{made.stderr}", pytrace=False)
    secring, pubring = home / "secring.gpg", home / "pubring.gpg"
    unlock = ["--pinentry-mode", "loopback", "--passphrase", passphrase] if passphrase else []
    exported = subprocess.run(["gpg", "--batch", *unlock, "--export-secret-keys"], env=env, check=True,
                              capture_output=True)
    secring.write_bytes(exported.stdout)
    pubring.write_bytes(subprocess.run(["gpg", "--export"], env=env, check=True, capture_output=True).stdout)
    return GpgKey(name, secring, pubring)


def show_values(ref: str, version: str) -> str:
    """`helm show values` from an OCI registry, without the `Pulled:` / `Digest:` notes helm 4 prints
    on stdout ahead of the values."""
    shown = helm("show", "values", ref, "--version", version, "--plain-http").stdout
    return "\n".join(ln for ln in shown.splitlines() if not ln.startswith(("Pulled: ", "Digest: ")))
