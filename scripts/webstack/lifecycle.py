"""The release lifecycle on a cluster, and `webstack smoke`'s orchestration around it.

install (wait) -> helm test -> assertions -> upgrade (new appVersion + config change) -> assertions
-> rollback to 1 -> assertions -> a bad upgrade rolled back automatically -> upgrade from the chart
at a git base ref -> uninstall -> leftovers. Helm is driven through pyhelm3 (webstack.helm.client),
`helm test` through webstack.helm.run; every assertion reads the Kubernetes API. Each stage is a
report Step; a failed install blocks the stages that need it (they are reported as skipped).
Where containers really run (kind, existing) the release is also checked over HTTP through nginx
and from inside the pods (webstack.cluster.incontainer); on kwok those steps are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from webstack import versioning
from webstack.cluster import Cluster, private_dir
from webstack.cluster import inspect as kinspect
from webstack.cluster.kube import Kube, connect, create_namespace, delete_namespaces
from webstack.cluster.scenario import Scenario, merge
from webstack.errors import ClusterError, HelmError, InputError, WebstackError
from webstack.paths import REPO_ROOT
from webstack.report import Step

T = TypeVar("T")
# pyhelm3 logs every failed helm command as a warning; the steps report those failures themselves.
logging.getLogger("pyhelm3").setLevel(logging.ERROR)


POD_GONE_TIMEOUT = 90.0  # the chart's longest terminationGracePeriodSeconds (60) and some


class Skip(Exception):
    """A step that cannot apply here; the message says why."""


class Failed(Exception):
    """An assertion about the cluster that did not hold."""


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def helm_message(exc: BaseException) -> str:
    """helm's own words: its `Error:` line when there is one (pyhelm3 keeps stderr as bytes)."""
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes) and stderr.strip():
        text = stderr.decode(errors="replace").strip()
        errors = [ln.removeprefix("Error: ") for ln in text.splitlines() if ln.startswith("Error: ")]
        return "\n".join(errors) or text
    return str(exc).strip() or type(exc).__name__


def bump_patch(version: str) -> str:
    core, sep, rest = version.partition("-")
    parts = core.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts) + (sep + rest if sep else "")


def bumped_chart(chart: Path, dest: Path) -> tuple[Path, str]:
    """A copy of the chart as a new app release: appVersion (hence the default image tag) + 1 patch.

    The app's version is the umbrella's appVersion and that of every subchart carrying the same
    appVersion (the flask subchart: its image tag defaults to its own .Chart.AppVersion); the chart
    versions go up one patch too. Subcharts of other apps (mysql, nginx) keep theirs.
    """
    out = dest / chart.name
    shutil.copytree(chart, out, symlinks=True)
    top = yaml.safe_load((out / "Chart.yaml").read_text())
    old = str(top.get("appVersion", "0.0.0"))
    new = bump_patch(old)
    for path in [out / "Chart.yaml", *sorted((out / "charts").glob("*/Chart.yaml"))]:
        meta = yaml.safe_load(path.read_text())
        if path.parent == out or str(meta.get("appVersion")) == old:
            meta["appVersion"] = new
            if path.parent == out:
                meta["version"] = bump_patch(str(meta["version"]))
            path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return out, new


@dataclass
class Lifecycle:
    """One run of the lifecycle against a started cluster. Holds what later steps compare against."""

    cluster: Cluster
    scenario: Scenario
    namespace: str
    work: Path
    base_ref: str = "HEAD"
    steps: list[Step] = field(default_factory=list)
    kube: Kube | None = None
    namespaces: list[str] = field(default_factory=list)  # the ones we created, deleted at the end
    blocked: str = ""
    snaps: dict[str, kinspect.Snapshot] = field(default_factory=dict)
    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    app_version: str = ""
    new_version: str = ""
    installed: bool = False
    # "Kind/name" of objects in the namespace before the install (what a user made for the release:
    # existing Secrets, claims): not the release's, so uninstall must leave them and not report them.
    preexisting: set[str] = field(default_factory=set)
    port_forward: subprocess.Popen[bytes] | None = None
    base_url: str = ""
    probe_url: str = ""  # through the Service itself where the provider can reach it (node)
    notes: list[Any] = field(default_factory=list)  # written through nginx, read back after changes

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def k(self) -> Kube:
        if self.kube is None:
            raise ClusterError("not connected to the cluster")
        return self.kube

    def helm(self) -> Any:
        from webstack import helm

        return helm.client(kubeconfig=self.cluster.kubeconfig, kubecontext=self.cluster.context)

    def helm_args(self, *args: str) -> list[str]:
        out = [*args, "--namespace", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig)]
        if self.cluster.context:
            out += ["--kube-context", self.cluster.context]
        return out

    def step(self, name: str, fn: Callable[[], str], *, critical: bool = False) -> Step:
        if self.blocked:
            s = Step(name, "skipped", 0.0, f"not run: {self.blocked}")
            self.steps.append(s)
            return s
        started = time.monotonic()
        try:
            detail, result = fn(), "passed"
        except Skip as exc:
            detail, result = str(exc), "skipped"
        except (WebstackError, Failed) as exc:
            detail, result = str(exc), "failed"
        except Exception as exc:  # pyhelm3 and kubernetes client errors: report, keep going
            detail, result = f"{type(exc).__name__}: {helm_message(exc)}", "failed"
        s = Step(name, result, time.monotonic() - started, detail)  # type: ignore[arg-type]
        self.steps.append(s)
        if result == "failed" and critical:
            self.blocked = f"{name} failed"
        return s

    def revision(self) -> Any:
        return _run(self.helm().get_current_revision(self.scenario.release, namespace=self.namespace))

    def revision_values(self, number: int) -> dict[str, Any]:
        async def get() -> dict[str, Any]:
            cur = await self.helm().get_current_revision(self.scenario.release, namespace=self.namespace)
            return await (await cur.release.revision(number)).values()

        return _run(get())

    def upgrade(
        self,
        chart: Path,
        values: dict[str, Any],
        *,
        timeout: str,
        rollback_on_failure: bool = False,
        namespace: str | None = None,
        release: str | None = None,
    ) -> Any:
        async def go() -> Any:
            client = self.helm()
            loaded = await client.get_chart(chart)
            return await client.install_or_upgrade_release(
                release or self.scenario.release,
                loaded,
                values,
                namespace=namespace or self.namespace,
                create_namespace=False,
                wait=True,
                timeout=timeout,
                rollback_on_failure=rollback_on_failure,
            )

        return _run(go())

    def snapshot(self) -> kinspect.Snapshot:
        return kinspect.snapshot(self.k, self.namespace, self.secret_names)

    # -- steps ------------------------------------------------------------------------------------
    def do_namespace(self) -> str:
        self.kube = connect(self.cluster.kubeconfig, self.cluster.context)
        create_namespace(self.k, self.namespace)
        self.namespaces.append(self.namespace)
        return f"{self.namespace}: pod-security.kubernetes.io/enforce=restricted"

    def do_install(self) -> str:
        sc = self.scenario
        self.preexisting = set(kinspect.inventory(self.k, self.namespace))
        try:
            self.installed = True  # from here on the release may exist, even if the install fails
            rev = self.upgrade(sc.chart, sc.install, timeout=sc.timeout)
        except Exception as exc:
            raise Failed(
                f"helm install failed: {_first_lines(helm_message(exc))}\n"
                f"{kinspect.diagnose(self.k, self.namespace)}"
            ) from exc
        if rev.revision != 1 or rev.status.value != "deployed":
            raise Failed(f"expected revision 1 deployed, got revision {rev.revision} {rev.status.value}")
        self.secret_names = [
            o["metadata"]["name"] for o in _run(rev.resources()) if o and o.get("kind") == "Secret"
        ]
        self.values[1] = self.revision_values(1)
        meta = _run(rev.chart_metadata())
        self.app_version = str(meta.app_version or "")
        return (
            f"revision 1 deployed (chart {meta.name} {meta.version}, app {self.app_version}); "
            f"{len(_run(rev.resources()))} objects, all workloads ready"
        )

    def do_test(self) -> str:
        from webstack import helm

        res = helm.run(
            ["test", *self.helm_args(self.scenario.release, "--timeout", self.scenario.timeout)], check=False
        )
        out = (res.stdout + res.stderr).strip()
        if res.returncode != 0:
            raise Failed(
                f"helm test failed: {_first_lines(out)}\n{kinspect.diagnose(self.k, self.namespace)}"
            )
        suites = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("TEST SUITE:")]
        phases = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.strip().startswith("Phase:")]
        if not suites or any(p != "Succeeded" for p in phases):
            raise Failed(f"helm test ran no test pod or one did not succeed:\n{_first_lines(out, 12)}")
        return f"{len(suites)} test pod(s) Succeeded: {', '.join(suites)}"

    def assert_healthy(self) -> str:
        """Workloads available, Services backed, hook Jobs Succeeded, Secrets present, PVCs Bound."""
        problems = kinspect.not_ready(self.k, self.namespace) + kinspect.services_without_endpoints(
            self.k, self.namespace
        )
        rev = self.revision()
        hooks = [h for h in _run(rev.hooks()) if h.kind == "Job"]
        problems += [
            f"hook Job/{h.name}: last run {h.phase.value}" for h in hooks if h.phase.value != "Succeeded"
        ]
        secrets = {s.metadata.name: s for s in self.k.core.list_namespaced_secret(self.namespace).items}
        for name in self.secret_names:
            sec = secrets.get(name)
            if sec is None:
                problems.append(f"Secret/{name}: missing")
            elif not sec.data or any(not v for v in sec.data.values()):
                problems.append(f"Secret/{name}: has an empty key")
        if problems:
            raise Failed("; ".join(problems))
        snap = self.snapshot()
        inv = kinspect.inventory(self.k, self.namespace)
        count = {
            kind: sum(1 for k in inv if k.startswith(kind + "/"))
            for kind in ("Deployment", "StatefulSet", "Service", "PersistentVolumeClaim")
        }
        return (
            f"revision {rev.revision}: {count['Deployment']} Deployments, "
            f"{count['StatefulSet']} StatefulSets ready; {count['Service']} Services with endpoints; "
            f"hook Jobs {', '.join(h.name for h in hooks) or 'none'} Succeeded; Secrets "
            f"{', '.join(self.secret_names) or 'none'} present; {len(snap.pvcs)} PVCs Bound"
        )

    def do_assert_install(self) -> str:
        detail = self.assert_healthy()
        self.snaps["install"] = self.snapshot()
        return detail

    def do_upgrade(self) -> str:
        sc = self.scenario
        chart, version = sc.chart, self.app_version
        if sc.bump_app_version:
            chart, version = bumped_chart(sc.chart, Path(tempfile.mkdtemp(dir=self.work)))
            self.cluster.load_images(_app_images(chart))
        self.new_version = version
        values = merge(sc.install, sc.upgrade_values)
        with self.probe() as probe:
            try:
                rev = self.upgrade(chart, values, timeout=sc.timeout)
            except Exception as exc:
                raise Failed(
                    f"helm upgrade failed: {_first_lines(helm_message(exc))}\n"
                    f"{kinspect.diagnose(self.k, self.namespace)}"
                ) from exc
        if rev.revision != 2:
            raise Failed(f"expected revision 2, got {rev.revision}")
        self.values[2] = self.revision_values(2)
        changes = _flat(sc.upgrade_values)
        return f"revision 2 deployed: app {self.app_version} -> {version}; values {changes}{probe}"

    def do_assert_upgrade(self) -> str:
        before, after = self.snaps["install"], self.snapshot()
        self.snaps["upgrade"] = after
        problems, rolled = [], []
        for wl, tpl in after.templates.items():
            old = before.templates.get(wl)
            if old is None:
                continue
            sums_old = {k: v for k, v in old["annotations"].items() if k.startswith("checksum/")}
            sums_new = {k: v for k, v in tpl["annotations"].items() if k.startswith("checksum/")}
            if tpl == old:
                continue  # unchanged template: the pods rightly stay
            if before.pods.get(wl) and before.pods.get(wl, set()) & after.pods.get(wl, set()):
                problems.append(f"{wl}: template changed but old pods still run")
            else:
                why = [k for k in sums_new if sums_new[k] != sums_old.get(k)]
                if tpl["images"] != old["images"]:
                    why.append("image " + ", ".join(i.rsplit("/", 1)[-1] for i in tpl["images"]))
                rolled.append(f"{wl} ({', '.join(why) or 'pod template'})")
        if self.scenario.bump_app_version and not any(
            img.endswith(f":{self.new_version}") for tpl in after.templates.values() for img in tpl["images"]
        ):
            problems.append(
                f"no workload runs an image tagged {self.new_version} (the new appVersion): "
                "does the image tag default to the chart's appVersion?"
            )
        changed_sums = [
            wl
            for wl, tpl in after.templates.items()
            if wl in before.templates
            and {k: v for k, v in tpl["annotations"].items() if k.startswith("checksum/")}
            != {k: v for k, v in before.templates[wl]["annotations"].items() if k.startswith("checksum/")}
        ]
        if self.scenario.upgrade_values and not changed_sums:
            problems.append("the config change moved no checksum/* pod annotation, so no pod rolled for it")
        if after.secrets != before.secrets:
            changed = [s for s in after.secrets if after.secrets[s] != before.secrets.get(s)]
            problems.append(f"generated Secrets changed on upgrade: {', '.join(changed)}")
        if after.pvcs != before.pvcs:
            problems.append(f"PVCs changed: {sorted(set(before.pvcs.items()) ^ set(after.pvcs.items()))}")
        problems += kinspect.not_ready(self.k, self.namespace)
        if problems:
            raise Failed("; ".join(problems))
        return (
            f"rolled: {', '.join(rolled) or 'none'}; Secrets unchanged ({len(after.secrets)}); "
            f"PVCs unchanged ({len(after.pvcs)})"
        )

    def do_rollback(self) -> str:
        async def go() -> Any:
            cur = await self.helm().get_current_revision(self.scenario.release, namespace=self.namespace)
            return await cur.release.rollback(1, wait=True, timeout=self.scenario.timeout)

        with self.probe() as probe:
            try:
                rev = _run(go())
            except Exception as exc:
                raise Failed(
                    f"helm rollback failed: {_first_lines(helm_message(exc))}\n"
                    f"{kinspect.diagnose(self.k, self.namespace)}"
                ) from exc
        if rev.revision != 3:
            raise Failed(f"expected revision 3 after rolling back to 1, got {rev.revision}")
        self.values[3] = self.revision_values(3)
        if self.values[3] != self.values[1]:
            raise Failed(f"revision 3 values {self.values[3]} differ from revision 1 values {self.values[1]}")
        return f"revision 3 deployed with revision 1's values{probe}"

    def do_assert_rollback(self) -> str:
        first, now = self.snaps["install"], self.snapshot()
        self.snaps["rollback"] = now
        problems = [
            f"{wl}: {now.templates.get(wl)} != revision 1's {tpl}"
            for wl, tpl in first.templates.items()
            if now.templates.get(wl) != tpl
        ]
        if now.secrets != first.secrets:
            problems.append("Secrets differ from revision 1")
        if now.pvcs != first.pvcs:
            problems.append("PVCs differ from revision 1")
        problems += kinspect.not_ready(self.k, self.namespace)
        if problems:
            raise Failed("; ".join(problems))
        return (
            f"{len(first.templates)} workload templates (images, checksums) equal revision 1's; "
            "Secrets and PVCs unchanged"
        )

    def do_bad_upgrade(self) -> str:
        sc = self.scenario
        last_good = self.revision()
        good_values = self.revision_values(last_good.revision)
        try:
            rev = self.upgrade(
                sc.chart, merge(sc.install, sc.bad_values), timeout=sc.bad_timeout, rollback_on_failure=True
            )
        except Exception as exc:
            reason = _first_lines(helm_message(exc), 2)
        else:
            raise Failed(f"the bad upgrade ({_flat(sc.bad_values)}) was accepted as revision {rev.revision}")
        cur = self.revision()
        history = list(_run(cur.release.history()))
        failed = [h for h in history if h.revision > last_good.revision and h.status.value == "failed"]
        problems = []
        if cur.status.value != "deployed":
            problems.append(f"release is {cur.status.value} at revision {cur.revision}")
        if not failed:
            problems.append("no failed revision recorded for the bad upgrade")
        if self.revision_values(cur.revision) != good_values:
            problems.append(
                f"revision {cur.revision} values differ from the last good revision {last_good.revision}"
            )
        after = self.snapshot()
        if after.templates != self.snaps["rollback"].templates:
            problems.append("workload templates differ from the last good revision")
        if problems:
            raise Failed("; ".join(problems) + f" (helm said: {reason})")
        return (
            f"rejected ({reason}); revision {', '.join(str(h.revision) for h in failed)} failed and was "
            f"rolled back automatically: the release is at revision {cur.revision} = revision "
            f"{last_good.revision}'s config, deployed"
        )

    def do_upgrade_from_base(self) -> str:
        sc = self.scenario
        if not sc.chart_in_repo:
            raise Skip(f"chart {sc.chart} is outside the repository: no git history to upgrade from")
        try:
            base = versioning.chart_at_ref(REPO_ROOT / sc.chart_in_repo, self.base_ref,
                                           Path(tempfile.mkdtemp(dir=self.work)))
        except (versioning.RefNotFound, versioning.ChartNotAtRef) as exc:
            raise Skip(f"{exc}: no earlier chart version to upgrade from") from exc
        ns = f"{self.namespace}-base"
        create_namespace(self.k, ns, "upgrade from the chart at a git base ref")
        self.namespaces.append(ns)
        release = f"{sc.release}-base"[:53]
        try:
            self.upgrade(base, sc.install, timeout=sc.timeout, namespace=ns, release=release)
        except Exception as exc:
            raise Failed(
                f"installing the chart at {self.base_ref} failed: {_first_lines(helm_message(exc))}\n"
                f"{kinspect.diagnose(self.k, ns)}"
            ) from exc
        try:
            rev = self.upgrade(sc.chart, sc.install, timeout=sc.timeout, namespace=ns, release=release)
        except Exception as exc:
            raise Failed(
                f"upgrading from {self.base_ref} to the working tree failed: "
                f"{_first_lines(helm_message(exc))}\n{kinspect.diagnose(self.k, ns)}"
            ) from exc
        problems = kinspect.not_ready(self.k, ns) + kinspect.services_without_endpoints(self.k, ns)
        if problems:
            raise Failed("; ".join(problems))
        old = yaml.safe_load((base / "Chart.yaml").read_text())["version"]
        new = yaml.safe_load((sc.chart / "Chart.yaml").read_text())["version"]
        return (
            f"chart {old} at {self.base_ref} -> {new} (working tree): revision {rev.revision} deployed, ready"
        )

    def do_uninstall(self) -> str:
        manifest = list(_run(self.revision().resources()))
        kept = kinspect.kept_on_purpose(o for o in manifest if o)
        try:
            _run(
                self.helm().uninstall_release(
                    self.scenario.release, namespace=self.namespace, wait=True, timeout=self.scenario.timeout
                )
            )
        except Exception as exc:
            raise Failed(f"helm uninstall failed: {_first_lines(helm_message(exc))}") from exc
        # Pods belong to ReplicaSets the garbage collector removes after helm returns, and real
        # containers take their grace period to stop: wait for them before judging what is left.
        deadline = time.monotonic() + POD_GONE_TIMEOUT
        while True:
            left = kinspect.inventory(self.k, self.namespace)
            unexpected = sorted(k for k in left if k not in kept and k not in self.preexisting)
            if not any(k.startswith("Pod/") for k in unexpected) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        missing_keep = sorted(k for k in kept if k not in left)
        problems = []
        if unexpected:
            hooks = [k for k in unexpected if kinspect.HOOK in (left[k].metadata.annotations or {})]
            hint = (
                f" ({', '.join(hooks)}: helm uninstall does not delete hooks; add hook-succeeded to their "
                "helm.sh/hook-delete-policy)"
                if hooks
                else ""
            )
            problems.append(f"left behind: {', '.join(unexpected)}{hint}")
        if missing_keep:
            problems.append(f"expected to be kept but gone: {', '.join(missing_keep)}")
        if problems:
            raise Failed("; ".join(problems))
        kept_text = "; ".join(f"{k}: {why}" for k, why in sorted(kept.items())) or "nothing"
        theirs = f"; left alone (there before the install): {', '.join(sorted(self.preexisting))}"
        return (
            f"everything removed except what the chart keeps on purpose: {kept_text}"
            f"{theirs if self.preexisting else ''}"
        )

    # -- HTTP through nginx where containers run ---------------------------------------------------
    @contextlib.contextmanager
    def probe(self) -> Iterator[_ProbeText]:
        """A continuous probe through nginx during upgrade/rollback (only where pods really run)."""
        text = _ProbeText()
        if not self.base_url:
            yield text
            return
        from webstack.smoke_http import Probe

        with Probe(self.probe_url or self.base_url) as p:
            yield text
        via = "the Service" if self.probe_url else "port-forward"
        result = p.result()
        text.result, text.failures = f"; probe through {via}: {result}", result.failures

    def do_http_smoke(self) -> str:
        from webstack.cluster.incontainer import require_kubectl

        kubectl = require_kubectl("the port-forward to nginx")
        from webstack.servers import free_port, port_open, wait_until
        from webstack.smoke_http import default_checks, run_checks

        svc = _front_service(self.k, self.namespace)
        port = free_port()
        cmd = [
            kubectl,
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "-n",
            self.namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            f"svc/{svc}",
            f"{port}:http",
        ]
        if self.cluster.context:
            cmd[1:1] = ["--context", self.cluster.context]
        self.port_forward = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(port), 30, f"kubectl port-forward to svc/{svc}")
        self.base_url = f"http://127.0.0.1:{port}"
        if forward := getattr(self.cluster, "forward_service", None):
            svc_port = self.k.core.read_namespaced_service(svc, self.namespace).spec.ports[0].port
            self.probe_url = f"http://127.0.0.1:{forward(self.namespace, svc, svc_port)}"
        results = run_checks(
            self.base_url, default_checks(_body_limit(self.k, self.namespace), self.app_version or None)
        )
        bad = [f"{s.name}: {s.detail}" for s in results if s.result == "failed"]
        if bad:
            raise Failed("; ".join(bad))
        return f"{len(results)} checks passed through svc/{svc}"

    def do_in_container(self) -> str:
        """testinfra's kubectl backend inside the pods: users, listening ports, read-only mounts."""
        from webstack.cluster import incontainer

        checks = incontainer.verify(self.k, self.namespace, self.cluster.kubeconfig, self.cluster.context)
        text = incontainer.describe(checks)
        if any(c.result == "failed" for c in checks):
            raise Failed(text)
        return text

    # -- data and disruptions where containers run -------------------------------------------------
    def do_write_data(self) -> str:
        from webstack import disruption

        self.notes = disruption.write_notes(self.base_url, 5)
        ids = ", ".join(str(n.id) for n in self.notes)
        return f"{len(self.notes)} notes written through nginx: ids {ids}"

    def do_read_data(self) -> str:
        from webstack import disruption

        if not self.notes:
            raise Failed("no notes were written before (the 'data written' step did not pass)")
        if problems := disruption.missing_notes(self.base_url, self.notes):
            raise Failed("; ".join(problems))
        return f"all {len(self.notes)} notes read back intact"

    def do_app_pod_deleted(self) -> str:
        from webstack import disruption

        with self.probe() as probe:
            detail = disruption.delete_one_pod(self.k, self.namespace, "flask")
        if probe.failures:
            raise Failed(f"{detail}; requests failed while it was replaced{probe}")
        return f"{detail}{probe}"

    def do_database_pod_deleted(self) -> str:
        from webstack import disruption

        detail = disruption.database_outage(self.k, self.namespace, self.probe_url or self.base_url)
        if self.notes and (problems := disruption.missing_notes(self.base_url, self.notes)):
            raise Failed(f"{detail}; after the restart: {'; '.join(problems)}")
        return f"{detail}; {len(self.notes)} notes intact"

    def do_backup_restore(self) -> str:
        """Backups on, a dump taken now, the table dropped, the restore hook run: same rows, same checksum."""
        from webstack import disruption
        from webstack.cluster.incontainer import require_kubectl

        sc, kc = self.scenario, str(self.cluster.kubeconfig)
        kubectl = require_kubectl("the backup and restore step")
        current = self.revision_values(self.revision().revision)
        defaults = {"mysql": {"auth": {"database": "webstack"}}}
        database = str(merge(defaults, current)["mysql"]["auth"]["database"])
        backups = merge(current, {"mysql": {"backup": {"enabled": True}}})
        self.upgrade(sc.chart, backups, timeout=sc.timeout)
        before = disruption.table_state(kubectl, kc, self.namespace, database, "notes")
        ran = disruption.run_backup_now(self.k, kubectl, kc, self.namespace)
        disruption.database_sql(kubectl, kc, self.namespace, database, "DROP TABLE notes")
        self.upgrade(sc.chart, merge(backups, {"mysql": {"restore": {"enabled": True}}}), timeout=sc.timeout)
        after = disruption.table_state(kubectl, kc, self.namespace, database, "notes")
        self.upgrade(sc.chart, backups, timeout=sc.timeout)  # restore off again, as the values say
        if after != before:
            raise Failed(f"after restore notes has {after[0]} rows, checksum {after[1]}; "
                         f"before the drop {before[0]} rows, checksum {before[1]}")
        if self.notes and (problems := disruption.missing_notes(self.base_url, self.notes)):
            raise Failed(f"restored table, but through the app: {'; '.join(problems)}")
        return (f"{ran}; table notes dropped; restore hook ran: {after[0]} rows, checksum {after[1]}, "
                "identical to before the drop")

    # -- the whole thing -------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], str], bool, bool]]:
        """Every step in order: (name, action, critical, needs running containers)."""
        return [
            ("namespace", self.do_namespace, True, False),
            ("install", self.do_install, True, False),
            ("helm test", self.do_test, False, False),
            ("assert installed", self.do_assert_install, True, False),
            ("http smoke", self.do_http_smoke, False, True),
            ("in-container checks", self.do_in_container, False, True),
            ("data written", self.do_write_data, False, True),
            ("upgrade", self.do_upgrade, True, False),
            ("assert upgraded", self.do_assert_upgrade, False, False),
            ("data kept after upgrade", self.do_read_data, False, True),
            ("rollback", self.do_rollback, True, False),
            ("assert rolled back", self.do_assert_rollback, False, False),
            ("data kept after rollback", self.do_read_data, False, True),
            ("app pod deleted", self.do_app_pod_deleted, False, True),
            ("database pod deleted", self.do_database_pod_deleted, False, True),
            ("backup and restore", self.do_backup_restore, False, True),
            ("bad upgrade", self.do_bad_upgrade, False, False),
            ("upgrade from base", self.do_upgrade_from_base, False, False),
        ]

    def not_here(self, needs_containers: bool) -> str:
        """Why a step cannot run on this cluster ('' when it can)."""
        if needs_containers and not self.cluster.runs_containers:
            return (f"{self.cluster.provider} runs no containers: this step runs on the node, kind and "
                    "existing providers (the stack tier covers the application without a cluster)")
        return ""

    def run(self) -> list[Step]:
        for name, action, critical, needs_containers in self.plan():
            if reason := self.not_here(needs_containers):
                self.steps.append(Step(name, "skipped", 0.0, reason))
                continue
            self.step(name, action, critical=critical)
        if self.installed:  # whatever failed since, the release must go: uninstall is part of the test
            self.blocked = ""
        self.step("uninstall", self.do_uninstall)
        return self.steps

    def close(self) -> None:
        if self.port_forward is not None:
            self.port_forward.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.port_forward.wait(10)
        if self.kube is not None:
            if self.cluster.provider != "kwok":  # a kwok cluster goes away whole
                with contextlib.suppress(Exception):  # teardown must go on; leftovers are logged below
                    if left := delete_namespaces(self.kube, self.namespaces):
                        print(f"warning: namespaces still terminating: {', '.join(left)}", file=sys.stderr)
            self.kube.close()
            self.kube = None


@dataclass
class _ProbeText:
    result: str = ""
    failures: int = 0

    def __str__(self) -> str:
        return self.result


def _body_limit(kube: Kube, ns: str) -> int:
    """nginx's client_max_body_size as the chart rendered it (read the way the stack tier reads it)."""
    from webstack.stack_nginx import body_limit

    for cm in kube.core.list_namespaced_config_map(ns).items:
        for text in (cm.data or {}).values():
            if "client_max_body_size" in text and (limit := body_limit(text)):
                return limit
    return 1024 * 1024  # nginx's own default


def _front_service(kube: Kube, ns: str) -> str:
    for svc in kube.core.list_namespaced_service(ns).items:
        if (svc.metadata.labels or {}).get(
            "app.kubernetes.io/component"
        ) == "nginx" or svc.metadata.name.endswith("nginx"):
            return str(svc.metadata.name)
    raise Failed(f"no nginx Service in namespace {ns} to port-forward to")


def _app_images(chart: Path) -> list[str]:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return [f"webstack/app:{meta.get('appVersion')}"]


def _first_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:n])


def _flat(values: dict[str, Any], prefix: str = "") -> str:
    items = []
    for k, v in values.items():
        if isinstance(v, dict):
            items.append(_flat(v, f"{prefix}{k}."))
        else:
            items.append(f"{prefix}{k}={v}")
    return ", ".join(i for i in items if i) or "(none)"


# --- smoke: cluster + lifecycle + reports + teardown ----------------------------------------------


@dataclass
class SmokeOptions:
    provider: str = "kwok"
    scenario: Path | None = None
    chart: Path | None = None
    namespace: str = "webstack-smoke"
    base_ref: str = "HEAD"
    report_dir: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    cluster_name: str | None = None


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM (and SIGINT) become KeyboardInterrupt, so every `finally` (teardown) runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def smoke(opts: SmokeOptions, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Start the cluster, run the lifecycle, always tear down; the steps (also written to report_dir)."""
    from webstack.cluster import chart_values, make
    from webstack.cluster import scenario as scen

    scenario = scen.load(opts.scenario or scen.DEFAULT_SCENARIO, opts.chart)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,56}[a-z0-9])?", opts.namespace):
        raise InputError(
            f"--namespace {opts.namespace!r} is not a DNS label of at most 58 characters "
            "(lower-case letters, digits, '-'; the base-ref upgrade adds '-base')"
        )
    steps: list[Step] = []
    cluster_opts: dict[str, object] = {}
    if opts.provider == "existing":
        cluster_opts = {"kubeconfig": opts.kubeconfig, "context": opts.context}
    cluster = make(opts.provider, opts.cluster_name, **cluster_opts)
    work = private_dir("webstack-smoke-")
    life: Lifecycle | None = None
    with interrupts_raise():
        try:
            started = time.monotonic()
            try:
                cluster.start()
                cluster.load_images(_app_images(scenario.chart))
                if overlay := chart_values(cluster):
                    scenario = dataclasses.replace(scenario, install=merge(scenario.install, overlay))
                subs = "".join(f"; image {s}" for s in getattr(cluster, "substitutions", list)())
                steps.append(
                    Step(
                        "cluster up",
                        "passed",
                        time.monotonic() - started,
                        f"{opts.provider} cluster {cluster.name} ({_server(cluster)}){subs}",
                    )
                )
            except WebstackError as exc:
                steps.append(Step("cluster up", "failed", time.monotonic() - started, str(exc)))
                raise
            finally:
                if on_step and steps:
                    on_step(steps[-1])
            life = Lifecycle(cluster, scenario, opts.namespace, work, opts.base_ref)
            life.step = _announcing(life.step, on_step)  # type: ignore[method-assign]
            steps += life.run()
        finally:
            failed = any(s.result == "failed" for s in steps) or not steps
            if life is not None:
                life.close()
            down = time.monotonic()
            try:
                cluster.stop(keep_logs_in=opts.report_dir if failed and opts.report_dir else None)
                kept = f"; component logs kept in {opts.report_dir}" if failed and opts.report_dir else ""
                steps.append(
                    Step(
                        "cluster down",
                        "passed",
                        time.monotonic() - down,
                        f"processes stopped, temporary folders removed{kept}",
                    )
                )
            except WebstackError as exc:
                steps.append(Step("cluster down", "failed", time.monotonic() - down, str(exc)))
            if on_step:
                on_step(steps[-1])
            shutil.rmtree(work, ignore_errors=True)
            if opts.report_dir:
                write_reports(steps, opts.report_dir)
    return steps


def _announcing(step: Callable[..., Step], on_step: Callable[[Step], None] | None) -> Callable[..., Step]:
    def wrapped(*args: Any, **kw: Any) -> Step:
        s = step(*args, **kw)
        if on_step:
            on_step(s)
        return s

    return wrapped


def _server(cluster: Cluster) -> str:
    try:
        kube = connect(cluster.kubeconfig, cluster.context)
    except ClusterError as exc:
        return str(exc)
    try:
        from webstack.cluster.kube import server_version

        return f"Kubernetes {server_version(kube)}"
    finally:
        kube.close()


def write_reports(steps: list[Step], report_dir: Path) -> None:
    from webstack.report import steps_json, steps_junit, write_atomic

    clean = [copy.copy(s) for s in steps]
    write_atomic(report_dir / "smoke.json", steps_json(clean))
    write_atomic(report_dir / "smoke.junit.xml", steps_junit(clean, "webstack.smoke"))


__all__ = ["HelmError", "Lifecycle", "SmokeOptions", "smoke", "write_reports"]
