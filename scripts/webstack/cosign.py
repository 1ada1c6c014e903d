"""cosign, key-based and offline: sign a pushed artifact (the app image, the chart) by digest, verify it.

    sign("ghcr.io/acme/webstack/app@sha256:...", Path("cosign.key"))      # password: $COSIGN_PASSWORD
    verify("ghcr.io/acme/webstack/app:1.0.0", Path("cosign.pub"))         # raises VerificationError

No transparency log and no Sigstore service: signing never uploads to Rekor and reads no TUF signing
config, verification ignores the tlog; the only network is the registry. cosign v3.1.3 is a pinned Go
tool (webstack.toolchain, `make setup`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from webstack.errors import InputError, ToolchainError, WebstackError

TIMEOUT = 300


class CosignError(WebstackError):
    """cosign could not sign (a tool failure, exit 2)."""


class VerificationError(WebstackError):
    """A signature check said no (unsigned, tampered, another key): a result, exit 1."""

    exit_code = 1


def binary() -> str:
    from webstack.toolchain import TOOLS

    tool = TOOLS["cosign"]
    if tool.installed():
        return str(tool.binary())
    found = shutil.which("cosign")
    if found:
        return found
    raise ToolchainError(f"cosign {tool.version} is not built: run `make setup` (or `webstack setup cosign`)")


def check_private_key(key: Path) -> None:
    if not key.is_file():
        raise InputError(f"cosign key {key} does not exist: make one with `cosign generate-key-pair` "
                         "(it writes cosign.key and cosign.pub)")
    head = key.read_bytes()[:200]
    if b"ENCRYPTED SIGSTORE PRIVATE KEY" not in head and b"ENCRYPTED COSIGN PRIVATE KEY" not in head:
        raise InputError(f"cosign key {key}: not a cosign private key (expected the cosign.key of "
                         "`cosign generate-key-pair`, not the .pub)")
    if "COSIGN_PASSWORD" not in os.environ:
        raise InputError(f"cosign key {key}: set COSIGN_PASSWORD to its password (empty for none); "
                         "there is no terminal to ask for it")
    opened = _run(["public-key", "--key", str(key)])  # decrypts the key: a wrong password shows here
    if opened.returncode != 0:
        said = _said(opened)
        if "decrypt" in said:
            raise InputError(f"cosign key {key}: COSIGN_PASSWORD is not its password ({said})")
        raise InputError(f"cosign key {key}: cosign cannot read it: {said}")


def _registry_flags(plain_http: bool) -> list[str]:
    return ["--allow-http-registry", "--allow-insecure-registry"] if plain_http else []


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary(), *args], capture_output=True, text=True, check=False, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def _said(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (res.stderr or res.stdout).strip().splitlines() if ln.strip()]
    if not lines:
        return f"exit {res.returncode}"
    return lines[-1].removeprefix("Error: ").removeprefix("error during command execution: ")


def sign(ref: str, key: Path, *, plain_http: bool = False) -> None:
    """Sign `ref` (name@sha256:..., never a tag: a tag can move between push and sign)."""
    if not re.search(r"@sha256:[0-9a-f]{64}$", ref):
        raise InputError(f"{ref}: sign by digest (NAME@sha256:...), not by tag")
    check_private_key(key)
    res = _run(["sign", "--key", str(key), "--tlog-upload=false", "--use-signing-config=false", "--yes",
                *_registry_flags(plain_http), ref])
    if res.returncode != 0:
        raise CosignError(f"cosign could not sign {ref}: {_said(res)}")


def verify(ref: str, public_key: Path, *, plain_http: bool = False) -> list[dict[str, Any]]:
    """`cosign verify --key` without the tlog; returns the verified payloads, raises VerificationError."""
    if not public_key.is_file():
        raise InputError(f"cosign public key {public_key} does not exist (the cosign.pub of "
                         "`cosign generate-key-pair`)")
    res = _run(["verify", "--key", str(public_key), "--insecure-ignore-tlog=true",
                *_registry_flags(plain_http), ref])
    if res.returncode != 0:
        raise VerificationError(f"{ref}: signature verification failed: {_said(res)}")
    payloads = []
    for line in res.stdout.splitlines():
        line = line.strip()
        if line.startswith("["):
            payloads += json.loads(line)
    return payloads


def generate_key_pair(folder: Path) -> tuple[Path, Path]:
    """cosign.key and cosign.pub in `folder`, encrypted with $COSIGN_PASSWORD."""
    if "COSIGN_PASSWORD" not in os.environ:
        raise InputError("set COSIGN_PASSWORD (the new key's password; empty for none)")
    res = subprocess.run([binary(), "generate-key-pair"], cwd=folder, capture_output=True, text=True,
                         check=False, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise CosignError(f"cosign generate-key-pair failed: {_said(res)}")
    return folder / "cosign.key", folder / "cosign.pub"
