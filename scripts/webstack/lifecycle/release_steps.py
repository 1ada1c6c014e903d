"""`Lifecycle`: the release's steps on a cluster, declared once in `plan()`, and `run()`.

install (wait) -> helm test -> assertions -> upgrade (new appVersion + config change) -> assertions
-> rollback to 1 -> assertions -> a bad upgrade rolled back automatically -> upgrade from the chart
at a git base ref -> uninstall -> leftovers. The steps gather the cluster's state; what they
conclude from it is in webstack.lifecycle.assertions. The steps that need running containers are
in webstack.lifecycle.container_steps.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webstack import versioning
from webstack.chart import Chart
from webstack.cluster import release_state
from webstack.cluster.kube import connect, create_namespace, delete_namespaces
from webstack.lifecycle import assertions, netpol_steps
from webstack.lifecycle.app_release import app_images, bumped_chart
from webstack.lifecycle.assertions import first_lines, flat_values
from webstack.lifecycle.base import Failed, Skip
from webstack.lifecycle.node_steps import NodeSteps
from webstack.paths import REPO_ROOT
from webstack.report import Step
from webstack.values import merge

POD_GONE_TIMEOUT = 90.0  # the chart's longest terminationGracePeriodSeconds (60) and some


@dataclass
class Lifecycle(NodeSteps):
    """One run of the lifecycle against a started cluster. Holds what later steps compare against."""

    def do_namespace(self) -> str:
        self.kube = connect(self.cluster.kubeconfig, self.cluster.context)
        create_namespace(self.k, self.namespace)
        self.namespaces.append(self.namespace)
        return f"{self.namespace}: pod-security.kubernetes.io/enforce=restricted"

    def do_install(self) -> str:
        sc = self.scenario
        self.preexisting = set(release_state.inventory(self.k, self.namespace))
        try:
            self.installed = True  # from here on the release may exist, even if the install fails
            rev = self.upgrade(sc.chart, sc.install, timeout=sc.timeout)
        except Exception as exc:
            raise self.helm_failed("helm install", exc) from exc
        if rev.revision != 1 or rev.status != "deployed":
            raise Failed(f"expected revision 1 deployed, got revision {rev.revision} {rev.status}")
        objects = rev.resources()
        self.secret_names = [o["metadata"]["name"] for o in objects if o.get("kind") == "Secret"]
        self.values[1] = self.revision_values(1)
        meta = rev.chart()
        self.app_version = meta.app_version
        return (
            f"revision 1 deployed (chart {meta.name} {meta.version}, app {self.app_version}); "
            f"{len(objects)} objects, all workloads ready"
        )

    def do_test(self) -> str:
        res = self.releases().test(self.scenario.release, timeout=self.scenario.timeout)
        out = (res.stdout + res.stderr).strip()
        if res.returncode != 0:
            raise Failed(
                f"helm test failed: {first_lines(out)}\n{release_state.diagnose(self.k, self.namespace)}"
            )
        suites, problems = assertions.helm_test_outcome(out)
        if problems:
            raise Failed(f"{'; '.join(problems)}\n{first_lines(out, 12)}")
        return f"{len(suites)} test pod(s) Succeeded: {', '.join(suites)}"

    def assert_healthy(self) -> str:
        """Workloads available, Services backed, hook Jobs Succeeded, Secrets present, PVCs Bound."""
        problems = release_state.not_ready(self.k, self.namespace) + release_state.services_without_endpoints(
            self.k, self.namespace
        )
        rev = self.revision()
        hooks = [h for h in rev.hooks() if h.kind == "Job"]
        problems += [f"hook Job/{h.name}: last run {h.phase}" for h in hooks if h.phase != "Succeeded"]
        secrets = {s.metadata.name: s for s in self.k.core.list_namespaced_secret(self.namespace).items}
        for name in self.secret_names:
            sec = secrets.get(name)
            if sec is None:
                problems.append(f"Secret/{name}: missing")
            elif not sec.data or any(not v for v in sec.data.values()):
                problems.append(f"Secret/{name}: has an empty key")
        inv = release_state.inventory(self.k, self.namespace)
        count = {
            kind: sum(1 for k in inv if k.startswith(kind + "/"))
            for kind in ("Deployment", "StatefulSet", "DaemonSet", "Service", "PersistentVolumeClaim")
        }
        if not count["Deployment"] + count["StatefulSet"] + count["DaemonSet"]:
            problems.append("the release has no Deployment, StatefulSet or DaemonSet: no workload's "
                            "readiness was checked")
        if problems:
            raise Failed("; ".join(problems))
        snap = self.snapshot()
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
            self.cluster.load_images(app_images(chart))
        self.new_version = version
        values = merge(sc.install, sc.upgrade_values)
        with self.probe() as probe:
            try:
                rev = self.upgrade(chart, values, timeout=sc.timeout)
            except Exception as exc:
                raise self.helm_failed("helm upgrade", exc) from exc
        if rev.revision != 2:
            raise Failed(f"expected revision 2, got {rev.revision}")
        self.values[2] = self.revision_values(2)
        changes = flat_values(sc.upgrade_values)
        return f"revision 2 deployed: app {self.app_version} -> {version}; values {changes}{probe}"

    def helm_failed(self, what: str, exc: BaseException) -> Failed:
        """helm's own words, then why the release's objects are not ready."""
        return Failed(f"{what} failed: {first_lines(str(exc))}\n"
                      f"{release_state.diagnose(self.k, self.namespace)}")

    def do_assert_upgrade(self) -> str:
        before, after = self.snaps["install"], self.snapshot()
        self.snaps["upgrade"] = after
        problems, rolled = assertions.upgrade_problems(
            before,
            after,
            new_version=self.new_version if self.scenario.bump_app_version else None,
            config_changed=bool(self.scenario.upgrade_values),
        )
        problems += release_state.not_ready(self.k, self.namespace)
        if problems:
            raise Failed("; ".join(problems))
        return (
            f"rolled: {', '.join(rolled) or 'none'}; Secrets unchanged ({len(after.secrets)}); "
            f"PVCs unchanged ({len(after.pvcs)})"
        )

    def do_rollback(self) -> str:
        with self.probe() as probe:
            try:
                rev = self.releases().rollback(self.scenario.release, 1, timeout=self.scenario.timeout)
            except Exception as exc:
                raise self.helm_failed("helm rollback", exc) from exc
        if rev.revision != 3:
            raise Failed(f"expected revision 3 after rolling back to 1, got {rev.revision}")
        self.values[3] = self.revision_values(3)
        if self.values[3] != self.values[1]:
            raise Failed(f"revision 3 values {self.values[3]} differ from revision 1 values {self.values[1]}")
        return f"revision 3 deployed with revision 1's values{probe}"

    def do_assert_rollback(self) -> str:
        first, now = self.snaps["install"], self.snapshot()
        self.snaps["rollback"] = now
        problems = assertions.rollback_problems(first, now)
        problems += release_state.not_ready(self.k, self.namespace)
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
            reason = first_lines(str(exc), 2)
        else:
            raise Failed(
                f"the bad upgrade ({flat_values(sc.bad_values)}) was accepted as revision {rev.revision}"
            )
        cur = self.revision()
        history = self.releases().history(sc.release)
        failed = [h for h in history if h.revision > last_good.revision and h.status == "failed"]
        problems = assertions.bad_upgrade_problems(
            status=cur.status,
            revision=cur.revision,
            failed_revisions=[h.revision for h in failed],
            values=self.revision_values(cur.revision),
            good_values=good_values,
            good_revision=last_good.revision,
            templates=self.snapshot().templates,
            good_templates=self.snaps["rollback"].templates,
        )
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
        except versioning.ChartNotAtRef as exc:  # a ref that names no commit (RefNotFound) is an error
            raise Skip(f"{exc}: no earlier chart version to upgrade from") from exc
        ns = f"{self.namespace}-base"
        create_namespace(self.k, ns, "upgrade from the chart at a git base ref")
        self.namespaces.append(ns)
        release = f"{sc.release}-base"[:53]
        try:
            self.upgrade(base, sc.install, timeout=sc.timeout, namespace=ns, release=release)
        except Exception as exc:
            raise Failed(
                f"installing the chart at {self.base_ref} failed: {first_lines(str(exc))}\n"
                f"{release_state.diagnose(self.k, ns)}"
            ) from exc
        try:
            rev = self.upgrade(sc.chart, sc.install, timeout=sc.timeout, namespace=ns, release=release)
        except Exception as exc:
            raise Failed(
                f"upgrading from {self.base_ref} to the working tree failed: "
                f"{first_lines(str(exc))}\n{release_state.diagnose(self.k, ns)}"
            ) from exc
        problems = release_state.not_ready(self.k, ns) + release_state.services_without_endpoints(self.k, ns)
        if problems:
            raise Failed("; ".join(problems))
        old, new = Chart.load(base).version, Chart.load(sc.chart).version
        return (
            f"chart {old} at {self.base_ref} -> {new} (working tree): revision {rev.revision} deployed, ready"
        )

    def do_uninstall(self) -> str:
        kept = release_state.kept_on_purpose(self.revision().resources())
        try:
            self.releases().uninstall(self.scenario.release, timeout=self.scenario.timeout)
        except Exception as exc:
            raise Failed(f"helm uninstall failed: {first_lines(str(exc))}") from exc
        release_state.pods_gone(self.k, self.namespace, POD_GONE_TIMEOUT)
        left = release_state.inventory(self.k, self.namespace)
        if problems := assertions.uninstall_problems(left, kept, self.preexisting):
            raise Failed("; ".join(problems))
        kept_text = "; ".join(f"{k}: {why}" for k, why in sorted(kept.items())) or "nothing"
        theirs = f"; left alone (there before the install): {', '.join(sorted(self.preexisting))}"
        return (
            f"everything removed except what the chart keeps on purpose: {kept_text}"
            f"{theirs if self.preexisting else ''}"
        )

    # -- the whole thing -------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], str], bool, bool]]:
        """Every step in order: (name, action, critical, needs running containers)."""
        return [
            ("namespace", self.do_namespace, True, False),
            ("install", self.do_install, True, False),
            ("helm test", self.do_test, False, False),
            ("assert installed", self.do_assert_install, True, False),
            ("http checks", self.do_http_checks, False, True),
            ("in-container checks", self.do_in_container, False, True),
            ("network policy", lambda: netpol_steps.prove(self), False, True),
            ("data written", self.do_write_data, False, True),
            ("monitoring", self.do_monitoring, False, True),
            ("upgrade", self.do_upgrade, True, False),
            ("assert upgraded", self.do_assert_upgrade, False, False),
            ("data kept after upgrade", self.do_read_data, False, True),
            ("rollback", self.do_rollback, True, False),
            ("assert rolled back", self.do_assert_rollback, False, False),
            ("data kept after rollback", self.do_read_data, False, True),
            ("app pod deleted", self.do_app_pod_deleted, False, True),
            ("database pod deleted", self.do_database_pod_deleted, False, True),
            ("MySQL-down alert", self.do_mysql_down_alert, False, True),
            ("backup and restore", self.do_backup_restore, False, True),
            *self.node_plan(),  # drain and node loss, on two or more nodes
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
