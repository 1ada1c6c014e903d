"""The lifecycle's steps on a cluster of two or more real nodes: a drain and a node lost.

- drain: flask and nginx at their default 2 replicas with their default PodDisruptionBudgets,
  under the continuous probe through nginx, `kubectl drain` (eviction API) of the node holding
  most of them that does not hold MySQL (its local volume pins it to its node: drained, it could
  run nowhere else); the PDBs must hold throughout (Ready pods never below their desiredHealthy),
  the evicted pods Ready elsewhere, 0 failed requests; then uncordon.
- node lost: the node holding flask/nginx pods but not MySQL goes away abruptly (SIGKILL to its
  kubelet, containerd, kube-proxy, shims and containers); the time until its pods are Ready
  elsewhere and the probe's failures meanwhile; the node comes back and is Ready again.
- database node lost: the same for MySQL's node: MySQL is unavailable (the app's pods turn
  unready, /readyz 503) until the node returns; the notes written earlier are intact after.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from webstack.lifecycle.base import Failed
from webstack.lifecycle.container_steps import ContainerSteps

APPS = ("flask", "nginx")
TIMEOUT = 180.0


class NodeSteps(ContainerSteps):
    """Steps planned only when the cluster has two or more nodes (see node_plan)."""

    def node_plan(self) -> list[tuple[str, Callable[[], str], bool, bool]]:
        if getattr(self.cluster, "nodes", 1) < 2:
            return []
        return [
            ("node drained", self.do_node_drain, False, True),
            ("node lost", self.do_node_lost, False, True),
            ("database node lost", self.do_database_node_lost, False, True),
        ]

    # -- what runs where --------------------------------------------------------------------------
    def _pods(self, app: str) -> list[Any]:
        items = self.k.core.list_namespaced_pod(self.namespace,
                                                label_selector=f"app.kubernetes.io/name={app}").items
        return [p for p in items if p.metadata.deletion_timestamp is None and p.status.phase == "Running"]

    def _ready_on(self, app: str) -> dict[str, int]:
        """Ready pods of `app` per node."""
        out: dict[str, int] = {}
        for p in self._pods(app):
            if _ready(p):
                out[p.spec.node_name] = out.get(p.spec.node_name, 0) + 1
        return out

    def _mysql_node(self) -> str:
        nodes = {p.spec.node_name for p in self._pods("mysql")}
        if len(nodes) != 1:
            raise Failed(f"expected one node running MySQL, found {sorted(nodes) or 'none'}")
        return nodes.pop()

    def _placement(self) -> str:
        return "; ".join(f"{app} on {', '.join(f'{n} x{c}' for n, c in sorted(self._ready_on(app).items()))}"
                         for app in (*APPS, "mysql"))

    def _busiest_without_mysql(self) -> tuple[str, str]:
        mysql = self._mysql_node()
        counts: dict[str, int] = {}
        for app in APPS:
            for node, n in self._ready_on(app).items():
                if node != mysql:
                    counts[node] = counts.get(node, 0) + n
        if not counts:
            raise Failed(f"no node without MySQL runs flask or nginx ({self._placement()}): the chart's "
                         "topology spread did not place replicas on another node")
        return max(sorted(counts), key=lambda n: counts[n]), mysql

    def _desired(self) -> dict[str, int]:
        """Each app's Deployment replicas; Failed below 2 (one replica cannot survive a drain)."""
        out = {}
        for app in APPS:
            deps = [d for d in self.k.apps.list_namespaced_deployment(self.namespace).items
                    if (d.metadata.labels or {}).get("app.kubernetes.io/name") == app]
            if len(deps) != 1 or (deps[0].spec.replicas or 0) < 2:
                raise Failed(f"{app}: expected one Deployment with at least 2 replicas, found "
                             f"{[(d.metadata.name, d.spec.replicas) for d in deps]}")
            out[app] = int(deps[0].spec.replicas)
        return out

    def _wait(self, ok: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if ok():
                return time.monotonic() - started
            time.sleep(0.5)
        raise Failed(f"{what}: not within {timeout:.0f}s ({self._placement()})")

    def _all_ready_off(self, desired: dict[str, int], node: str) -> bool:
        return all(sum(n for where, n in self._ready_on(app).items() if where != node) >= want
                   for app, want in desired.items())

    def _node_ready(self, name: str) -> bool:
        conds = self.k.core.read_node(name).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conds)

    # -- drain --------------------------------------------------------------------------------------
    def do_node_drain(self) -> str:
        from kubernetes import client

        self.need_http()
        desired = self._desired()
        pdbs = {(p.spec.selector.match_labels or {}).get("app.kubernetes.io/name"): p for p in
                client.PolicyV1Api(self.k.api).list_namespaced_pod_disruption_budget(self.namespace).items}
        if missing := [a for a in APPS if a not in pdbs]:
            raise Failed(f"no PodDisruptionBudget for {', '.join(missing)}: the drain would prove nothing")
        spread = {app: sorted(self._ready_on(app)) for app in APPS}
        if any(len(nodes) < 2 for nodes in spread.values()):
            raise Failed(f"replicas not spread over nodes: {self._placement()}")
        target, mysql = self._busiest_without_mysql()
        evicted = sorted(p.metadata.name for app in APPS for p in self._pods(app)
                         if p.spec.node_name == target)
        lowest = {app: desired[app] for app in APPS}
        done = threading.Event()

        def watch() -> None:  # the fewest Ready pods of each app while evictions happen
            while not done.is_set():
                for app in APPS:
                    lowest[app] = min(lowest[app], sum(self._ready_on(app).values()))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        try:
            with self.probe() as probe:
                watcher.start()
                started = time.monotonic()
                out = self._kubectl("drain", target, "--ignore-daemonsets", "--delete-emptydir-data",
                                    f"--timeout={int(TIMEOUT)}s")
                drained = time.monotonic() - started
                back = self._wait(lambda: self._all_ready_off(desired, target),
                                  f"{desired} Ready pods off {target} after the drain")
                done.set()
                watcher.join(5)
        finally:
            done.set()
            self._kubectl("uncordon", target)
        refused = out.count("Cannot evict pod")  # kubectl's line for each 429 it retries
        healthy = {app: int(pdbs[app].status.desired_healthy or 0) for app in APPS}
        problems = [f"{app}: {lowest[app]} Ready during the drain, below its PDB's desiredHealthy "
                    f"{healthy[app]}" for app in APPS if lowest[app] < healthy[app]]
        if not probe.measured:
            problems.append("the probe sent no request: nothing shows users were unaffected")
        if probe.failures:
            problems.append(f"requests failed during the drain{probe}")
        if problems:
            raise Failed("; ".join(problems))
        return (f"spread before: {spread}; drained {target} (not {mysql}, MySQL's: its local volume "
                f"keeps it there) in {drained:.1f}s: evicted {', '.join(evicted)}; PDB refusals (429) "
                f"retried: {refused}; fewest Ready during the drain {lowest} (PDB desiredHealthy "
                f"{healthy}); all Ready off {target} {back:.1f}s after the drain; uncordoned{probe}")

    def _kubectl(self, *args: str) -> str:
        from webstack.toolchain import TOOLS

        cmd = [str(TOOLS["kube-node"].binary("kubectl")), "--kubeconfig", str(self.cluster.kubeconfig)]
        if self.cluster.context:
            cmd += ["--context", self.cluster.context]
        res = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False, timeout=TIMEOUT + 30)
        if res.returncode != 0:
            raise Failed(f"kubectl {' '.join(args[:2])} failed: {(res.stderr or res.stdout).strip()[-400:]}")
        return res.stdout + res.stderr

    # -- a node lost ------------------------------------------------------------------------------
    def _rebalance(self) -> str:
        """After a drain everything runs on the other nodes: one pod of each app crowded on one node
        is deleted, and the spread constraint places its replacement on another node (a rollout
        restart would not: terminating pods still count, so both new pods may share a node)."""
        desired = self._desired()
        deleted = []
        for app in APPS:
            if len(self._ready_on(app)) == 1:
                victim = sorted(p.metadata.name for p in self._pods(app))[0]
                self.k.core.delete_namespaced_pod(victim, self.namespace)
                deleted.append(victim)
        self._wait(lambda: self._all_ready_off(desired, "") and all(
            len(self._ready_on(app)) > 1 for app in APPS), "replicas Ready on two nodes again")
        return f"rebalanced (deleted {', '.join(deleted)}): {self._placement()}; "

    def _beside(self, mysql: str, apps: tuple[str, ...] = APPS) -> str:
        """Replicas of `apps` on a node without MySQL, after a rebalance if need be; what was done."""
        if any(n != mysql for app in apps for n in self._ready_on(app)):
            return ""
        moved = self._rebalance()
        if not any(n != mysql for app in apps for n in self._ready_on(app)):
            raise Failed(f"{moved}still no {' or '.join(apps)} pod beside {mysql}, MySQL's node")
        return moved

    def do_node_lost(self) -> str:
        self.need_http()
        desired = self._desired()
        moved = self._beside(self._mysql_node())
        target, _ = self._busiest_without_mysql()
        placed = self._placement()
        with self.probe() as probe:
            started = time.monotonic()
            killed = self.cluster.lose_node(target)  # type: ignore[attr-defined]
            not_ready = self._wait(lambda: not self._node_ready(target), f"{target} NotReady")
            elsewhere = self._wait(lambda: self._all_ready_off(desired, target),
                                   f"flask and nginx Ready off the lost {target}") + not_ready
        back = self._restore(target)
        if not probe.measured:
            raise Failed(f"{target} lost, but the probe sent no request: nothing was measured")
        return (f"{moved}before: {placed}; {target} lost ({len(killed)} processes SIGKILLed: kubelet, "
                f"containerd, kube-proxy, kube-router, shims, containers); NotReady after {not_ready:.1f}s; "
                f"flask and nginx Ready elsewhere {elsewhere:.1f}s after the loss{probe}; node back Ready "
                f"{back:.1f}s after its restart ({time.monotonic() - started:.1f}s in all)")

    def _restore(self, node: str) -> float:
        """Start the node again; seconds until it is Ready."""
        started = time.monotonic()
        self.cluster.restore_node(node)  # type: ignore[attr-defined]
        self._wait(lambda: self._node_ready(node), f"{node} Ready after its restart")
        return time.monotonic() - started

    def do_database_node_lost(self) -> str:
        from webstack.lifecycle import disruption

        url = self.probe_url or self.need_http()
        if not self.notes:
            raise Failed("no notes were written before (the 'data written' step did not pass): "
                         "intact data after the node's return would prove nothing")
        mysql = self._mysql_node()
        moved = self._beside(mysql, ("flask",))  # app pods that outlive the node, to see MySQL gone
        started = time.monotonic()
        killed = self.cluster.lose_node(mysql)  # type: ignore[attr-defined]
        try:
            away = self._wait(lambda: not self._node_ready(mysql), f"{mysql} NotReady")
            unready = self._wait(lambda: not any(_ready(p) for p in self._pods("flask")
                                                 if p.spec.node_name != mysql),
                                 "the app's pods on the other nodes unready (their /readyz asks MySQL)")
            outage = _readyz(url)
        finally:
            down_for = time.monotonic() - started
            back = self._restore(mysql)
        db_back = self._wait(lambda: any(_ready(p) for p in self._pods("mysql")), "MySQL Ready again")
        app_back = self._wait(lambda: bool(self._ready_on("flask")), "the app Ready again")
        deadline = time.monotonic() + 60  # kube-proxy on the returned node syncs its rules anew
        while problems := disruption.missing_notes(url, self.notes):
            if time.monotonic() > deadline:
                raise Failed(f"after {mysql} returned: {'; '.join(problems)}")
            time.sleep(1)
        return (f"{moved}{mysql} (MySQL's volume) lost ({len(killed)} processes SIGKILLed); NotReady after "
                f"{away:.1f}s; the app unready after {unready:.1f}s more (MySQL unavailable: /readyz "
                f"through the Service {outage}); node restarted after {down_for:.1f}s, Ready "
                f"{back:.1f}s later; MySQL Ready {db_back:.1f}s later, the app {app_back:.1f}s later; all "
                f"{len(self.notes)} notes intact ({time.monotonic() - started:.1f}s in all)")


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _readyz(url: str) -> str:
    """What /readyz answers now (one request): a status code or the error's kind."""
    import requests

    try:
        return f"HTTP {requests.get(f'{url}/readyz', timeout=5).status_code}"
    except requests.RequestException as exc:
        return type(exc).__name__
