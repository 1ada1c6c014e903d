"""The "network policy" step: the chart's NetworkPolicies proven from real pods on the node provider.

The node runs kube-router as its enforcer (webstack.cluster.node.kube_router). Every connection
is a TCP connect from inside a pod to another pod's address: from the release's own pods (kubectl
exec) and from throwaway restricted pods made from the app image already on the node (no pull).
A connection that must be blocked counts only beside a control: the same destination and port
reached from a pod the policy admits (the same throwaway pod with the app's labels, or the app's
own pods), so a dead server or a broken probe pod cannot pass for a policy.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webstack.lifecycle.base import Failed, Skip

if TYPE_CHECKING:
    from webstack.lifecycle.base import LifecycleBase

OPEN_WINDOW = 15.0  # a new pod's address reaches kube-router's ipsets within a few seconds
BLOCKED_WINDOW = 4.0  # tried for this long: any success in it is a leak
# python3 -c: try each (name, host, port, expect_open) over its window; print one JSON line.
PROBE = r"""
import json, socket, sys, time
out = {}
for name, host, port, expect_open in json.loads(sys.argv[1]):
    window = float(sys.argv[2] if expect_open else sys.argv[3])
    start, tries, result = time.monotonic(), 0, "not tried"
    while tries == 0 or time.monotonic() - start < window:
        tries += 1
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            result = "open"
            break
        except socket.timeout:
            result = "timed out"
        except OSError as exc:
            result = exc.strerror or type(exc).__name__
        time.sleep(0.2)
    out[name] = {"result": result, "tries": tries, "seconds": round(time.monotonic() - start, 1)}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Check:
    source: str
    target: str  # "mysql:3306"
    expect_open: bool
    result: str = ""
    tries: int = 0
    seconds: float = 0.0

    @property
    def held(self) -> bool:
        return (self.result == "open") == self.expect_open

    def __str__(self) -> str:
        verdict = "open" if self.result == "open" else f"blocked ({self.result})"
        return f"{self.source} -> {self.target}: {verdict}, {self.tries} tries in {self.seconds}s"


def prove(lc: LifecycleBase) -> str:
    if lc.cluster.provider != "node":
        raise Skip(f"{lc.cluster.provider}: whether NetworkPolicy is enforced depends on its CNI; the node "
                   "provider runs a known enforcer (kube-router), so the proof runs there")
    ns, release = lc.namespace, lc.scenario.release
    guarded = _guarded(lc, ns)
    if not guarded:
        raise Skip("the release renders no NetworkPolicy for flask or MySQL (networkPolicy.enabled off)")
    ports = {c: p for c, p in PORTS.items() if c in guarded | {"flask", "nginx"}}
    pods = {c: _running(lc, ns, release, SELECTORS[c]) for c in ports}
    if missing := [c for c, p in pods.items() if not p]:
        raise Failed(f"no running {', '.join(missing)} pod: nothing to connect from or to")
    addr = {c: f"{pods[c].status.pod_ip}:{_port(pods[c], port)}" for c, port in ports.items()}
    mine = {"app.kubernetes.io/instance": release}
    to_mysql = [("mysql", True)] if "mysql" in guarded else []
    plan: list[tuple[str, Any, list[tuple[str, bool]]]] = [  # (source, exec pod or labels, targets)
        ("flask pod", pods["flask"], to_mysql),
        ("nginx pod", pods["nginx"], [(t, t == "flask") for t in ("mysql", "flask") if t in guarded]),
        ("probe with flask's labels", {**mine, "app.kubernetes.io/name": "flask"}, to_mysql),
        ("probe with the backup Job's labels",
         {**mine, "app.kubernetes.io/name": "mysql", "app.kubernetes.io/component": "backup"}, to_mysql),
        # Reaching nginx (open to anyone) shows this pod's own network works.
        ("unlabelled probe", {}, [("nginx", True), *((t, False) for t in sorted(guarded))]),
    ]
    plan = [step for step in plan if step[2]]
    image = pods["flask"].spec.containers[0].image
    checks = _run(lc, ns, image, plan, addr)
    if problems := _problems(checks):
        raise Failed("; ".join(problems) + " | " + "; ".join(map(str, checks)))
    return (f"kube-router enforced {', '.join(sorted(guarded))}'s NetworkPolicy: "
            + "; ".join(map(str, checks))
            + ("; the backup Job itself connects in the 'backup and restore' step, under the same enforcer"
               if "mysql" in guarded else ""))


# Which pods each component is (the release's instance label is added), and its port's name.
SELECTORS = {"flask": "app.kubernetes.io/name=flask,app.kubernetes.io/component=web",
             "nginx": "app.kubernetes.io/name=nginx",
             "mysql": "app.kubernetes.io/name=mysql,app.kubernetes.io/component=database"}
PORTS = {"flask": "http", "nginx": "http", "mysql": "mysql"}


def _guarded(lc: LifecycleBase, ns: str) -> set[str]:
    """The components (flask, mysql) a NetworkPolicy of the release selects."""
    from kubernetes import client

    found = set()
    for pol in client.NetworkingV1Api(lc.k.api).list_namespaced_network_policy(ns).items:
        labels = pol.spec.pod_selector.match_labels or {}
        if labels.get("app.kubernetes.io/component") == "database":
            found.add("mysql")
        elif labels.get("app.kubernetes.io/component") == "web":
            found.add("flask")
    return found


def _running(lc: LifecycleBase, ns: str, release: str, selector: str) -> Any:
    items = lc.k.core.list_namespaced_pod(
        ns, label_selector=f"{selector},app.kubernetes.io/instance={release}").items
    running = [p for p in items if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
               and p.status.pod_ip]
    return sorted(running, key=lambda p: p.metadata.name)[0] if running else None


def _port(pod: Any, name: str) -> int:
    for c in pod.spec.containers:
        for p in c.ports or []:
            if p.name == name:
                return int(p.container_port)
    raise Failed(f"pod {pod.metadata.name} has no container port named {name}")


def _args(targets: list[tuple[str, bool]], addr: dict[str, str]) -> list[str]:
    spec = [[f"{t} ({addr[t]})", addr[t].split(":")[0], int(addr[t].split(":")[1]), want]
            for t, want in targets]
    return [json.dumps(spec), str(OPEN_WINDOW), str(BLOCKED_WINDOW)]


def _run(lc: LifecycleBase, ns: str, image: str, plan: list[tuple[str, Any, list[tuple[str, bool]]]],
         addr: dict[str, str]) -> list[Check]:
    """Create the throwaway pods first (they start while the execs run), then read everything."""
    made: dict[str, str] = {}
    try:
        for source, how, targets in plan:
            if isinstance(how, dict):
                made[source] = _create_probe(lc, ns, image, how, _args(targets, addr))
        outputs = {source: _exec(lc, ns, how, _args(targets, addr))
                   for source, how, targets in plan if not isinstance(how, dict)}
        outputs |= {source: _probe_output(lc, ns, pod) for source, pod in made.items()}
    finally:
        for pod in made.values():
            lc.k.core.delete_namespaced_pod(pod, ns, grace_period_seconds=0)
    checks = []
    for source, _how, targets in plan:
        for t, want in targets:
            got = outputs[source].get(f"{t} ({addr[t]})", {})
            checks.append(Check(source, f"{t} {addr[t]}", want, got.get("result", "no answer"),
                                int(got.get("tries", 0)), float(got.get("seconds", 0.0))))
    return checks


def _problems(checks: list[Check]) -> list[str]:
    problems = [f"{c.source} -> {c.target}: expected {'open' if c.expect_open else 'blocked'}, got "
                f"{c.result}" for c in checks if not c.held]
    opened = {c.target for c in checks if c.expect_open and c.result == "open"}
    problems += [f"{c.source} -> {c.target} blocked, but no admitted pod reached it either: the server "
                 "may be down, so the block proves no policy" for c in checks
                 if not c.expect_open and c.target not in opened]
    return problems


def _exec(lc: LifecycleBase, ns: str, pod: Any, args: list[str]) -> dict[str, Any]:
    from webstack.cluster.incontainer import require_kubectl

    kubectl = require_kubectl("the network policy step")
    cmd = [kubectl, "--kubeconfig", str(lc.cluster.kubeconfig), "-n", ns, "exec", pod.metadata.name,
           "-c", pod.spec.containers[0].name, "--", "python3", "-c", PROBE, *args]
    if lc.cluster.context:
        cmd[1:1] = ["--context", lc.cluster.context]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip()[-300:]
        raise Failed(f"kubectl exec into {pod.metadata.name} failed: {why}")
    return _last_json(res.stdout, pod.metadata.name)


def _create_probe(lc: LifecycleBase, ns: str, image: str, labels: dict[str, str], args: list[str]) -> str:
    """A restricted pod that runs PROBE once and exits (never Ready for long, so it joins no Service)."""
    from kubernetes import client

    name = f"netpol-probe-{uuid.uuid4().hex[:6]}"
    restricted = client.V1SecurityContext(
        allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
        run_as_user=10001, capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"webstack.toolkit/netpol-probe": "true", **labels}),
        spec=client.V1PodSpec(
            restart_policy="Never", automount_service_account_token=False, active_deadline_seconds=120,
            containers=[client.V1Container(
                name="probe", image=image, image_pull_policy="Never", security_context=restricted,
                command=["python3", "-c", PROBE, *args],
                resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "32Mi"},
                                                        limits={"cpu": "200m", "memory": "64Mi"}))]))
    lc.k.core.create_namespaced_pod(ns, pod)
    return name


def _probe_output(lc: LifecycleBase, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = lc.k.core.read_namespaced_pod(name, ns).status.phase
        if phase in ("Succeeded", "Failed"):
            return _last_json(str(lc.k.core.read_namespaced_pod_log(name, ns)), name)
        time.sleep(0.3)
    raise Failed(f"probe pod {name} did not finish within {timeout:.0f}s")


def _last_json(text: str, where: str) -> dict[str, Any]:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise Failed(f"{where} printed no result: {text.strip()[-200:]!r}")
    return dict(json.loads(lines[-1]))
