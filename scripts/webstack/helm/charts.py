"""helm's verbs on chart folders, packages and registries: one function per verb, each building its
arguments here and running the binary webstack.helm.resolve picked.

Verbs whose failure is an answer the caller reads (lint, verify, a registry lookup) take `check=False`
and return helm's result; the others raise HelmError carrying helm's own words.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webstack.errors import HelmError
from webstack.helm.resolve import binary

Result = subprocess.CompletedProcess[str]


def words(said: str) -> str:
    """helm's own words: its `Error:` lines when there are any, else all it said."""
    text = said.strip()
    errors = [ln.removeprefix("Error: ") for ln in text.splitlines() if ln.startswith("Error: ")]
    return "\n".join(errors) or text


def run(args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600, check: bool = True) -> Result:
    """Run helm with `args`; on failure (with `check`) HelmError carrying all helm said (it names the
    template file and line)."""
    cmd = [str(binary()), *args]
    try:
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired as exc:
        raise HelmError(f"`helm {' '.join(args)}` did not finish within {timeout:.0f}s") from exc
    if check and res.returncode != 0:
        raise HelmError(f"`helm {' '.join(args)}` failed:\n{(res.stderr or res.stdout).strip()}")
    return res


def _values_args(values_files: Sequence[Path]) -> list[str]:
    return [arg for f in values_files for arg in ("--values", str(f))]


@dataclass(frozen=True)
class Template:
    """One `helm template` call: the chart, the release it renders as, the values files in order."""

    chart: Path
    release: str
    namespace: str
    values_files: tuple[Path, ...] = ()

    def args(self) -> list[str]:
        return ["template", self.release, str(self.chart), "--namespace", self.namespace,
                *_values_args(self.values_files)]


def template(call: Template, *, check: bool = True) -> Result:
    """`helm template`: the manifests as helm prints them (with its `# Source:` comments)."""
    return run(call.args(), check=check)


def template_many(calls: Sequence[Template]) -> list[Result]:
    """Every call rendered concurrently (each a helm process), results in the order given; a failed
    render is returned, not raised, so the caller can say which values set it was."""

    async def one(call: Template) -> Result:
        args = call.args()
        proc = await asyncio.create_subprocess_exec(
            str(binary()), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(errors="replace"),
                                           err.decode(errors="replace"))

    async def all_of() -> list[Result]:
        return list(await asyncio.gather(*(one(c) for c in calls)))

    return asyncio.run(all_of())


def lint(chart: Path, values_files: Sequence[Path] = ()) -> Result:
    """`helm lint --strict`; its findings are in the result (a failing lint is an answer, not an error)."""
    return run(["lint", "--strict", str(chart), *_values_args(values_files)], check=False)


def dependency_build(chart: Path) -> None:
    run(["dependency", "build", str(chart)])


@dataclass(frozen=True)
class Signature:
    """What `helm package --sign` needs: the key's name, the legacy GPG keyring, an optional passphrase."""

    key: str
    keyring: Path
    passphrase_file: Path | None = None


def package(chart: Path, destination: Path, *, sign: Signature | None = None) -> None:
    args = ["package", str(chart), "--destination", str(destination)]
    if sign:
        args += ["--sign", "--key", sign.key, "--keyring", str(sign.keyring)]
        if sign.passphrase_file:
            args += ["--passphrase-file", str(sign.passphrase_file)]
    run(args)


def repo_index(directory: Path, *, url: str | None = None, merge: Path | None = None) -> None:
    args = ["repo", "index", str(directory)]
    if url:
        args += ["--url", url]
    if merge:
        args += ["--merge", str(merge)]
    run(args)


def verify(tgz: Path, keyring: Path) -> Result:
    """`helm verify`; a bad signature is in the result, for the caller to explain."""
    return run(["verify", str(tgz), "--keyring", str(keyring)], check=False)


def _tls_args(plain_http: bool) -> list[str]:
    return ["--plain-http"] if plain_http else []


def show_chart(ref: str | Path, *, version: str | None = None, plain_http: bool = False,
               check: bool = True) -> Result:
    """`helm show chart` of a package file or an oci:// reference: its Chart.yaml."""
    args = ["show", "chart", str(ref), *(["--version", version] if version else []), *_tls_args(plain_http)]
    return run(args, check=check)


def push(tgz: Path, registry: str, *, plain_http: bool = False) -> Result:
    return run(["push", str(tgz), registry, *_tls_args(plain_http)])
