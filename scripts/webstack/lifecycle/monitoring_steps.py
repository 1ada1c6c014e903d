"""The lifecycle's monitoring steps, where a provider runs a Prometheus of ours (the real node).

"monitoring": the chart rendered with the release's values and monitoring on; its ServiceMonitors
become Prometheus's scrape jobs (Kubernetes service discovery) and its rules file is loaded. Every
target must be up, and the app's request counter (and nginx's stub_status, read through the API
server's pod proxy) must rise with the probe's traffic.
"MySQL-down alert": while the "database pod deleted" step has MySQL away, WebstackMySQLDown must go
pending, then firing, then clear once MySQL is back. No mysqld-exporter runs here (its Go module is
not served), so the alert is driven by the app's own webstack_db_up, which every /readyz sets.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from webstack.lifecycle.base import Failed, LifecycleBase, Skip

ALERT = "WebstackMySQLDown"
# Fast enough to see a short outage: 1 s scrapes and evaluations, and the alert's `for` as a value.
LIFECYCLE_VALUES = {"monitoring": {"alerts": {"mysqlDown": {"for": "1s"}}}}


@dataclass
class AlertWatch:
    """When an alert was first pending, first firing and gone again, in seconds from start."""

    started: float = field(default_factory=time.monotonic)
    pending: float | None = None
    firing: float | None = None
    cleared: float | None = None
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def describe(self) -> str:
        def t(v: float | None) -> str:
            return "never" if v is None else f"{v:.1f}s"

        return f"pending at {t(self.pending)}, firing at {t(self.firing)}, cleared at {t(self.cleared)}"


class MonitoringSteps(LifecycleBase):
    """Prometheus on the cluster: targets up, counters rising, the MySQL-down alert's life."""

    prometheus: Any = None  # webstack.cluster.node.prometheus.Client once started
    alert_watch: AlertWatch | None = None

    def do_monitoring(self) -> str:
        from webstack import monitoring
        from webstack.cluster.node.prometheus import Client
        from webstack.values import merge

        start = getattr(self.cluster, "start_prometheus", None)
        if start is None:
            raise Skip(f"the {self.cluster.provider} provider runs no Prometheus of ours (the node does)")
        url = self.probe_url or self.base_url
        if not url:
            raise Failed("no URL through nginx: the http checks step did not pass, so no traffic to count")
        sc = self.scenario
        rendered = monitoring.render(sc.chart, release=sc.release, namespace=self.namespace,
                                     values=merge(sc.install, LIFECYCLE_VALUES))
        if not rendered.service_monitors or not rendered.rules_file:
            raise Failed("the chart rendered no ServiceMonitor or no rules file with monitoring on")
        t = time.monotonic()
        self.prometheus = prom = Client(start(rendered.service_monitors, rendered.rules_file))
        ready = time.monotonic() - t
        targets, took = self._targets_up(prom)
        app_q = f'sum(webstack_http_requests_total{{namespace="{self.namespace}", route="/version"}})'
        app_before = prom.value(app_q) or 0.0
        nginx_before = self._stub_requests()
        from webstack.http_checks import Probe

        with Probe(url) as probe:
            time.sleep(3)
        result = probe.result()
        good = result.total - result.failures
        if good < 10:
            raise Failed(f"the probe got only {good} good answers ({result}): too little traffic to count")
        deadline, app_after = time.monotonic() + 20, app_before
        while time.monotonic() < deadline:
            app_after = prom.value(app_q) or 0.0
            if app_after - app_before >= good:
                break
            time.sleep(0.5)
        nginx_after = self._stub_requests()
        problems = []
        if app_after - app_before < good:
            problems.append(f"webstack_http_requests_total{{route=\"/version\"}} rose by "
                            f"{app_after - app_before:.0f}, the probe had {good} good answers")
        if nginx_after - nginx_before < result.total:
            problems.append(f"nginx stub_status requests rose by {nginx_after - nginx_before}, "
                            f"the probe sent {result.total}")
        if problems:
            raise Failed("; ".join(problems))
        return (f"Prometheus ready in {ready:.1f}s; {len(targets)} targets up after {took:.1f}s "
                f"({', '.join(sorted(t['labels'].get('pod', '?') for t in targets))}); probe {good} good "
                f"answers: app counter +{app_after - app_before:.0f}, nginx stub_status requests "
                f"+{nginx_after - nginx_before}")

    def _targets_up(self, prom: Any, timeout: float = 60) -> tuple[list[dict[str, Any]], float]:
        """Wait until there are targets, one per app pod, and all of them are up."""
        from webstack.lifecycle.disruption import _pods

        started = time.monotonic()
        targets: list[dict[str, Any]] = []
        want = len(_pods(self.k, self.namespace, "flask"))
        while time.monotonic() - started < timeout:
            targets = prom.targets()
            if len(targets) >= max(want, 1) and all(t["health"] == "up" for t in targets):
                return targets, time.monotonic() - started
            time.sleep(0.5)
        shown = "; ".join(f"{t['scrapeUrl']} {t['health']} {t.get('lastError', '')}" for t in targets)
        raise Failed(f"Prometheus targets not all up within {timeout:.0f}s (want {want}): {shown or 'none'}")

    def _stub_requests(self) -> int:
        """nginx's stub_status `requests` summed over the nginx pods (API server pod proxy)."""
        from webstack.lifecycle.disruption import _pods

        total = 0
        pods = _pods(self.k, self.namespace, "nginx")
        if not pods:
            raise Failed("no running nginx pod to read stub_status from")
        for name, pod in pods.items():
            port = next(p.container_port for c in pod.spec.containers for p in (c.ports or [])
                        if p.name == "status")
            text = self.k.core.connect_get_namespaced_pod_proxy_with_path(
                f"{name}:{port}", self.namespace, "stub_status")
            m = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", str(text))
            if not m:
                raise Failed(f"stub_status of {name} is not nginx's: {str(text)[:120]!r}")
            total += int(m.group(3))
        return total

    # -- the MySQL-down alert, watched while "database pod deleted" runs ---------------------------
    @contextlib.contextmanager
    def watching_alert(self) -> Iterator[None]:
        """Record WebstackMySQLDown's states from now on (only where Prometheus runs)."""
        if self.prometheus is None:
            yield
            return
        watch = self.alert_watch = AlertWatch()
        prom = self.prometheus

        def loop() -> None:
            while not watch.stop.is_set():
                try:
                    states = prom.alert_states(ALERT)
                except Exception as exc:  # keep watching; report what went wrong
                    watch.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    states = set()
                now = time.monotonic() - watch.started
                if "pending" in states and watch.pending is None:
                    watch.pending = now
                if "firing" in states and watch.firing is None:
                    watch.firing = now
                    watch.pending = watch.pending if watch.pending is not None else now
                if not states and watch.firing is not None and watch.cleared is None:
                    watch.cleared = now
                    return
                time.sleep(0.25)

        watch.thread = threading.Thread(target=loop, name="alert-watch", daemon=True)
        watch.thread.start()
        yield

    def do_mysql_down_alert(self) -> str:
        if getattr(self.cluster, "start_prometheus", None) is None:
            raise Skip(f"the {self.cluster.provider} provider runs no Prometheus of ours (the node does)")
        if self.prometheus is None:
            raise Failed("Prometheus is not running (the monitoring step did not pass)")
        watch = self.alert_watch
        if watch is None or watch.thread is None:
            raise Failed("the alert was not watched: the database pod deleted step did not run")
        watch.thread.join(90)
        watch.stop.set()
        if watch.pending is None or watch.firing is None or watch.cleared is None:
            raise Failed(f"{ALERT} after the MySQL pod was deleted: {watch.describe()}"
                         f"{'; errors: ' + '; '.join(watch.errors[:3]) if watch.errors else ''}")
        return (f"{ALERT} (min of the app's webstack_db_up == 0 for 1s) after the MySQL pod was deleted: "
                f"{watch.describe()}")
