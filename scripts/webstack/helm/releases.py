"""helm's verbs on a release in a cluster: install/upgrade, rollback, history, get values, test,
uninstall. pyhelm3 drives them (it parses helm's JSON into typed revisions); its coroutines run to the
end here, each in a fresh event loop, so callers stay synchronous. Every helm failure is a HelmError
carrying helm's own words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from webstack.errors import HelmError
from webstack.helm.charts import Result, run, words
from webstack.helm.resolve import binary

T = TypeVar("T")
# pyhelm3 logs every failed helm command as a warning; the callers report those failures themselves.
logging.getLogger("pyhelm3").setLevel(logging.ERROR)


def _sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run one of pyhelm3's coroutines to the end; its errors become HelmError with helm's words."""
    from pyhelm3 import errors

    try:
        return asyncio.run(coro)
    except errors.Error as exc:
        said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise HelmError(words(said) or type(exc).__name__) from exc


@dataclass(frozen=True)
class Hook:
    kind: str
    name: str
    phase: str  # helm's last run of it: Succeeded, Failed, Running, Unknown


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    app_version: str


class Revision:
    """One revision of a release, as helm reports it."""

    def __init__(self, rev: Any) -> None:
        self._rev = rev  # pyhelm3's ReleaseRevision

    @property
    def revision(self) -> int:
        return int(self._rev.revision)

    @property
    def status(self) -> str:
        return str(self._rev.status.value)  # deployed, failed, superseded, ...

    def resources(self) -> list[dict[str, Any]]:
        """The release's manifest, parsed (`helm get manifest`)."""
        return [o for o in _sync(self._rev.resources()) if o]

    def hooks(self) -> list[Hook]:
        return [Hook(h.kind, h.name, h.phase.value) for h in _sync(self._rev.hooks())]

    def chart(self) -> ChartInfo:
        meta = _sync(self._rev.chart_metadata())
        return ChartInfo(meta.name, meta.version, str(meta.app_version or ""))


@dataclass(frozen=True)
class Releases:
    """The releases in one namespace of one cluster (the kubeconfig and context helm talks to)."""

    kubeconfig: Path
    context: str | None
    namespace: str

    def _client(self) -> Any:
        from pyhelm3 import Client

        return Client(executable=str(binary()), kubeconfig=self.kubeconfig, kubecontext=self.context)

    def cli_args(self, *args: str) -> list[str]:
        """`args` and the flags that point a plain helm command at this cluster and namespace."""
        out = [*args, "--namespace", self.namespace, "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out

    def install_or_upgrade(self, release: str, chart: Path, values: dict[str, Any], *, timeout: str,
                           rollback_on_failure: bool = False, namespace: str | None = None) -> Revision:
        """`helm upgrade --install --wait` into an existing namespace."""

        async def go() -> Any:
            client = self._client()
            return await client.install_or_upgrade_release(
                release, await client.get_chart(chart), values,
                namespace=namespace or self.namespace, create_namespace=False, wait=True,
                timeout=timeout, rollback_on_failure=rollback_on_failure,
            )

        return Revision(_sync(go()))

    def current(self, release: str) -> Revision:
        return Revision(_sync(self._client().get_current_revision(release, namespace=self.namespace)))

    def values(self, release: str, revision: int) -> dict[str, Any]:
        """`helm get values --revision N`: the values the user supplied to that revision."""

        async def get() -> dict[str, Any]:
            cur = await self._client().get_current_revision(release, namespace=self.namespace)
            return dict(await (await cur.release.revision(revision)).values())

        return _sync(get())

    def rollback(self, release: str, revision: int, *, timeout: str) -> Revision:
        async def go() -> Any:
            cur = await self._client().get_current_revision(release, namespace=self.namespace)
            return await cur.release.rollback(revision, wait=True, timeout=timeout)

        return Revision(_sync(go()))

    def history(self, release: str) -> list[Revision]:
        async def go() -> list[Any]:
            cur = await self._client().get_current_revision(release, namespace=self.namespace)
            return list(await cur.release.history())

        return [Revision(r) for r in _sync(go())]

    def install_files(self, release: str, chart: Path, values_files: list[Path], *, timeout: str) -> None:
        """`helm install --wait=watcher --wait-for-jobs` from values files, as ONE helm process (pyhelm3
        adds `helm version` and `helm status` runs: on 2 cores the concurrent matrix pays for each).

        Without helm's client-side OpenAPI check: Helm 4 applies server-side with field validation
        Strict, so the API server refuses an unknown or mistyped field itself, and the check cost
        0.3 of a defaults install's 0.8 CPU seconds (tests/cluster/test_smoke_matrix.py proves the
        refusal still comes)."""
        values = [a for f in values_files for a in ("--values", str(f))]
        flags = ["--wait=watcher", "--wait-for-jobs", "--timeout", timeout, "--disable-openapi-validation"]
        res = run(["install", *self.cli_args(release, str(chart), *values, *flags)], check=False)
        if res.returncode:
            raise HelmError(words(res.stderr or res.stdout))

    def uninstall_once(self, release: str, *, timeout: str) -> None:
        """`helm uninstall --wait` as one helm process (see install_files)."""
        res = run(["uninstall", *self.cli_args(release, "--wait", "--timeout", timeout)], check=False)
        if res.returncode:
            raise HelmError(words(res.stderr or res.stdout))

    def test(self, release: str, *, timeout: str) -> Result:
        """`helm test`; a failing test is in the result (pyhelm3 has no test verb)."""
        return run(["test", *self.cli_args(release, "--timeout", timeout)], check=False)

    def uninstall(self, release: str, *, timeout: str) -> None:
        _sync(self._client().uninstall_release(release, namespace=self.namespace, wait=True, timeout=timeout))
