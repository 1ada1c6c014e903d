"""The steps that need running containers (node, kind and existing providers; skipped on kwok).

HTTP checks through nginx (kubectl port-forward), testinfra checks inside the pods, notes written
through nginx and read back after changes, an app pod and the database pod deleted, a backup
restored; and `probe()`, the continuous probe through nginx during upgrade and rollback.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from webstack.cluster.kube import Kube
from webstack.lifecycle.base import Failed
from webstack.lifecycle.monitoring_steps import MonitoringSteps
from webstack.values import merge


@dataclass
class _ProbeText:
    result: str = ""
    failures: int = 0
    measured: bool = False

    def __str__(self) -> str:
        return self.result


class ContainerSteps(MonitoringSteps):
    """The lifecycle's steps where pods really run; Lifecycle.plan() marks them as needing containers."""

    # -- HTTP through nginx where containers run ---------------------------------------------------
    @contextlib.contextmanager
    def probe(self) -> Iterator[_ProbeText]:
        """A continuous probe through nginx during upgrade/rollback (only where pods really run)."""
        text = _ProbeText()
        if not self.base_url:
            if self.cluster.runs_containers:  # nothing measured is not "0 failed": say so
                text.result = "; no probe: the http checks step did not pass, so nothing was measured"
            yield text
            return
        from webstack.http_checks import Probe

        with Probe(self.probe_url or self.base_url) as p:
            yield text
        via = "the Service" if self.probe_url else "port-forward"
        result = p.result()
        text.result, text.failures = f"; probe through {via}: {result}", result.failures
        text.measured = result.total > 0

    def do_http_checks(self) -> str:
        from webstack.cluster.incontainer import require_kubectl

        kubectl = require_kubectl("the port-forward to nginx")
        from webstack.http_checks import default_checks, run_checks
        from webstack.servers import free_port, port_open, wait_until

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
    def need_http(self) -> str:
        """The release's URL through nginx; Failed when the http checks step did not give one."""
        if not self.base_url:
            raise Failed("no URL through nginx: the http checks step did not pass, so nothing was checked")
        return self.base_url

    def do_write_data(self) -> str:
        from webstack.lifecycle import disruption

        self.need_http()
        self.notes = disruption.write_notes(self.base_url, 5)
        ids = ", ".join(str(n.id) for n in self.notes)
        return f"{len(self.notes)} notes written through nginx: ids {ids}"

    def do_read_data(self) -> str:
        from webstack.lifecycle import disruption

        if not self.notes:
            raise Failed("no notes were written before (the 'data written' step did not pass)")
        if problems := disruption.missing_notes(self.base_url, self.notes):
            raise Failed("; ".join(problems))
        return f"all {len(self.notes)} notes read back intact"

    def do_app_pod_deleted(self) -> str:
        from webstack.lifecycle import disruption

        self.need_http()
        with self.probe() as probe:
            detail = disruption.delete_one_pod(self.k, self.namespace, "flask")
        if not probe.measured:
            raise Failed(f"{detail}, but the probe sent no request: nothing shows users were unaffected")
        if probe.failures:
            raise Failed(f"{detail}; requests failed while it was replaced{probe}")
        return f"{detail}{probe}"

    def do_database_pod_deleted(self) -> str:
        from webstack.lifecycle import disruption

        url = self.probe_url or self.need_http()
        with self.watching_alert():  # the MySQL-down alert's life, where Prometheus runs (node)
            detail = disruption.database_outage(self.k, self.namespace, url)
        if self.notes and (problems := disruption.missing_notes(self.base_url, self.notes)):
            raise Failed(f"{detail}; after the restart: {'; '.join(problems)}")
        return f"{detail}; {len(self.notes)} notes intact"

    def do_backup_restore(self) -> str:
        """Backups on, a dump taken now, the table dropped, the restore hook run: same rows, same checksum."""
        from webstack.cluster.incontainer import require_kubectl
        from webstack.lifecycle import disruption

        if not self.notes:
            raise Failed("no notes were written before (the 'data written' step did not pass): "
                         "a restore of an empty table proves nothing")
        sc, kc = self.scenario, str(self.cluster.kubeconfig)
        kubectl = require_kubectl("the backup and restore step")
        current = self.revision_values(self.revision().revision)
        defaults = {"mysql": {"auth": {"database": "webstack"}}}
        database = str(merge(defaults, current)["mysql"]["auth"]["database"])
        backups = merge(current, {"mysql": {"backup": {"enabled": True}}})
        self.upgrade(sc.chart, backups, timeout=sc.timeout)
        before = disruption.table_state(kubectl, kc, self.namespace, database, "notes")
        if not before[0]:
            raise Failed("the notes table was empty before the backup: restoring nothing proves nothing")
        ran = disruption.run_backup_now(self.k, kubectl, kc, self.namespace)
        disruption.database_sql(kubectl, kc, self.namespace, database, "DROP TABLE notes")
        self.upgrade(sc.chart, merge(backups, {"mysql": {"restore": {"enabled": True}}}), timeout=sc.timeout)
        after = disruption.table_state(kubectl, kc, self.namespace, database, "notes")
        self.upgrade(sc.chart, backups, timeout=sc.timeout)  # restore off again, as the values say
        if after != before:
            raise Failed(f"after restore notes has {after[0]} rows, checksum {after[1]}; "
                         f"before the drop {before[0]} rows, checksum {before[1]}")
        if problems := disruption.missing_notes(self.base_url, self.notes):
            raise Failed(f"restored table, but through the app: {'; '.join(problems)}")
        return (f"{ran}; table notes dropped; restore hook ran: {after[0]} rows, checksum {after[1]}, "
                "identical to before the drop")


def _body_limit(kube: Kube, ns: str) -> int:
    """nginx's client_max_body_size as the chart rendered it (read the way the stack tier reads it)."""
    from webstack.nginx_conf import body_limit

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
