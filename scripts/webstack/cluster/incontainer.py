"""Checks inside the running containers, through testinfra's kubectl backend (kind/existing only).

For one Ready pod of every Deployment and StatefulSet in the release's namespace, and each of its
containers, `kubectl exec` (testinfra.get_host("kubectl://<pod>?container=<c>&namespace=<ns>"))
reads the kernel's own view and compares it with what the pod spec asks for:

- user: PID 1's effective uid/gid (/proc/1/status) is not 0 and equals the securityContext's
  runAsUser/runAsGroup (container level over pod level);
- ports: the ports the container declares, plus the contract's (nginx 8080/8081, gunicorn 8000,
  mysql 3306), are in LISTEN state (/proc/net/tcp{,6}: the images have no ss/netstat);
- read-only root: where readOnlyRootFilesystem is set, / is mounted `ro` and writing to it fails;
- config: every file projected from a ConfigMap is present with the ConfigMap's content, every
  Secret file is present (its content is never read), and the mount holding them is `ro`.

Only plain shell commands (cat, test, touch) are run, through testinfra's Host.run: its higher
modules (file, mount_point) first probe the OS with uname and os-release, which costs execs.
The expectations come from the live pod spec, so they follow the chart as it changes.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from webstack.errors import ClusterError

# The shared contract (DESIGN: nginx listens 8080 with stub_status on 8081; gunicorn 8000; MySQL
# 3306), keyed by the pod's app.kubernetes.io/name: checked even if the chart forgot to declare one.
CONTRACT_PORTS: dict[str, tuple[int, ...]] = {"nginx": (8080, 8081), "flask": (8000,), "mysql": (3306,)}
WRITE_PROBE = "/.webstack-write-probe"
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column

Result = Literal["passed", "failed", "n/a"]


@dataclass(frozen=True)
class ConfigFile:
    path: str  # inside the container
    source: str  # "ConfigMap/<name>:<key>" or "Secret/<name>:<key>"
    content: str | None  # the ConfigMap's value; None for Secrets (presence only)


@dataclass(frozen=True)
class Mount:
    path: str  # mountPath
    source: str  # "ConfigMap/<name>" or "Secret/<name>"
    declared_read_only: bool
    files: tuple[ConfigFile, ...]


@dataclass(frozen=True)
class Target:
    """One container of one pod, with what its spec says should hold inside it."""

    workload: str  # e.g. Deployment/web-nginx
    pod: str
    container: str
    uid: int | None
    gid: int | None
    read_only_root: bool
    ports: tuple[int, ...]
    mounts: tuple[Mount, ...] = field(default=())

    @property
    def where(self) -> str:
        return f"{self.pod}/{self.container}"


@dataclass(frozen=True)
class Check:
    where: str
    what: str
    result: Result
    detail: str

    def line(self) -> str:
        mark = {"passed": "ok", "failed": "FAIL", "n/a": "n/a"}[self.result]
        return f"{mark} {self.where} {self.what}: {self.detail}"


# --- expectations from pod specs (camelCase dicts, as the API serialises them) ------------------


def targets_from(
    pods: list[tuple[str, dict[str, Any]]],
    configmaps: dict[str, dict[str, str]],
    secret_keys: dict[str, list[str]],
) -> list[Target]:
    """Targets for (workload, pod) pairs; ConfigMap data and Secret key names by object name."""
    out = []
    for workload, pod in pods:
        spec = pod.get("spec") or {}
        name = (pod.get("metadata") or {}).get("name", "")
        app = ((pod.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name", "")
        pod_sc = spec.get("securityContext") or {}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        containers = spec.get("containers") or []
        contract = CONTRACT_PORTS.get(app, ())
        declared = [
            {p["containerPort"] for p in c.get("ports") or [] if p.get("protocol", "TCP") == "TCP"}
            for c in containers
        ]
        # the network namespace is the pod's: the contract's ports go to the container declaring them
        owner = next((i for i, ports in enumerate(declared) if ports & set(contract)), 0)
        for i, c in enumerate(containers):
            sc = c.get("securityContext") or {}
            ports = declared[i] | (set(contract) if i == owner else set())
            out.append(
                Target(
                    workload=workload,
                    pod=name,
                    container=c["name"],
                    uid=sc.get("runAsUser", pod_sc.get("runAsUser")),
                    gid=sc.get("runAsGroup", pod_sc.get("runAsGroup")),
                    read_only_root=bool(sc.get("readOnlyRootFilesystem")),
                    ports=tuple(sorted(ports)),
                    mounts=tuple(
                        m
                        for vm in c.get("volumeMounts") or []
                        if (m := _mount(vm, volumes.get(vm["name"]) or {}, configmaps, secret_keys))
                    ),
                )
            )
    return out


def _mount(
    vm: dict[str, Any],
    volume: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
    secret_keys: dict[str, list[str]],
) -> Mount | None:
    if "configMap" in volume:
        name = volume["configMap"]["name"]
        items, kind = volume["configMap"].get("items"), "ConfigMap"
        data: dict[str, str | None] = dict(configmaps.get(name, {}))
    elif "secret" in volume:
        name = volume["secret"]["secretName"]
        items, kind = volume["secret"].get("items"), "Secret"
        data = dict.fromkeys(secret_keys.get(name, []))
    else:
        return None
    # file name inside the volume -> key
    layout = {i["path"]: i["key"] for i in items} if items else {k: k for k in data}
    sub = vm.get("subPath")
    if sub:
        files = {vm["mountPath"]: layout[sub]} if sub in layout else {}
    else:
        files = {posixpath.join(vm["mountPath"], p): k for p, k in layout.items()}
    return Mount(
        path=vm["mountPath"],
        source=f"{kind}/{name}",
        declared_read_only=bool(vm.get("readOnly")),
        files=tuple(
            ConfigFile(path, f"{kind}/{name}:{key}", data.get(key) if kind == "ConfigMap" else None)
            for path, key in sorted(files.items())
        ),
    )


def targets(kube: Any, namespace: str) -> list[Target]:
    """One Ready pod per Deployment/StatefulSet in the namespace, read from the API."""
    ser = kube.api.sanitize_for_serialization
    workloads = [("Deployment", d) for d in kube.apps.list_namespaced_deployment(namespace).items] + [
        ("StatefulSet", s) for s in kube.apps.list_namespaced_stateful_set(namespace).items
    ]
    pods = []
    for kind, wl in workloads:
        labels = wl.spec.selector.match_labels or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        ready = [
            p
            for p in kube.core.list_namespaced_pod(namespace, label_selector=selector).items
            if p.status.phase == "Running"
            and p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        if not ready:
            raise ClusterError(f"{kind}/{wl.metadata.name}: no Ready pod to check inside")
        pods.append((f"{kind}/{wl.metadata.name}", ser(ready[0])))
    configmaps = {
        c.metadata.name: dict(c.data or {}) for c in kube.core.list_namespaced_config_map(namespace).items
    }
    secret_keys = {
        s.metadata.name: list(s.data or {}) for s in kube.core.list_namespaced_secret(namespace).items
    }
    return targets_from(pods, configmaps, secret_keys)


# --- reading /proc --------------------------------------------------------------------------------


def status_ids(text: str) -> tuple[int, int]:
    """The effective uid and gid from a /proc/<pid>/status text."""
    ids = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Uid", "Gid"):
            ids[key] = int(rest.split()[1])  # real, effective, saved, fs
    if len(ids) != 2:
        raise ValueError("no Uid:/Gid: lines")
    return ids["Uid"], ids["Gid"]


def listening_ports(text: str) -> set[int]:
    """TCP ports in LISTEN state in /proc/net/tcp and /proc/net/tcp6 texts (concatenated)."""
    ports = set()
    for line in text.splitlines():
        cols = line.split()
        if len(cols) > 3 and cols[0].endswith(":") and cols[3] == _LISTEN:
            ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def mount_for(mounts_text: str, path: str) -> tuple[str, list[str]]:
    """The mount point holding `path` and its options (the last, i.e. topmost, of equal ones)."""
    best, opts = "", []
    for line in mounts_text.splitlines():
        cols = line.split()
        if len(cols) < 4 or cols[0] == "rootfs":
            continue
        point = cols[1].replace("\\040", " ")
        inside = point == "/" or path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, opts = point, cols[3].split(",")
    return best, opts


# --- running the checks ---------------------------------------------------------------------------


class _Exec:
    """`kubectl exec` into one container through testinfra; every failure of kubectl says so."""

    def __init__(self, target: Target, namespace: str, kubeconfig: Path, context: str | None) -> None:
        import testinfra

        spec = f"kubectl://{target.pod}?container={target.container}&namespace={namespace}"
        extra = {"context": context} if context else {}
        self.host = testinfra.get_host(spec, kubeconfig=str(kubeconfig), **extra)

    def run(self, command: str, *args: str) -> Any:
        return self.host.run(command, *args)

    def read(self, path: str) -> str:
        res = self.run("cat -- %s", path)
        if res.rc != 0:
            raise ClusterError(f"cannot read {path}: exit {res.rc}: {_short(res.stderr or res.stdout)}")
        return str(res.stdout)


def check_target(ex: _Exec, t: Target) -> list[Check]:
    out: list[Check] = []

    def guard(what: str, fn: Any) -> None:
        try:
            out.append(Check(t.where, what, *fn()))
        except (ClusterError, ValueError) as exc:
            out.append(Check(t.where, what, "failed", str(exc)))

    def user() -> tuple[Result, str]:
        uid, gid = status_ids(ex.read("/proc/1/status"))
        want = f"runAsUser {t.uid}" if t.uid is not None else "no runAsUser (the image's USER)"
        want += f", runAsGroup {t.gid}" if t.gid is not None else ""
        ok = uid != 0 and t.uid in (None, uid) and t.gid in (None, gid)
        return ("passed" if ok else "failed"), f"PID 1 runs as uid {uid} gid {gid} (securityContext: {want})"

    def ports() -> tuple[Result, str]:
        if not t.ports:
            return "n/a", "no ports declared or in the contract"
        res = ex.run("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")  # tcp6 may be absent
        if not res.stdout.strip():
            raise ClusterError(f"cannot read /proc/net/tcp: exit {res.rc}: {_short(res.stderr)}")
        listening = listening_ports(res.stdout)
        missing = sorted(set(t.ports) - listening)
        extra = sorted(listening - set(t.ports))
        also = f" (also listening: {', '.join(map(str, extra))})" if extra else ""
        if missing:
            return (
                "failed",
                f"not listening on {', '.join(map(str, missing))}; listening: {sorted(listening)}",
            )
        return "passed", f"listening on {', '.join(map(str, t.ports))}{also}"

    def root() -> tuple[Result, str]:
        if not t.read_only_root:
            return "n/a", "the chart does not set readOnlyRootFilesystem"
        _, opts = mount_for(mounts, "/")
        res = ex.run("touch %s", WRITE_PROBE)
        if res.rc == 0:
            ex.run("rm -f %s", WRITE_PROBE)
            return "failed", f"writing {WRITE_PROBE} succeeded (/ mounted {_mode(opts)})"
        if "ro" not in opts:
            return "failed", f"/ is mounted {_mode(opts)}, not ro"
        return "passed", f"/ mounted ro; writing to / refused: {_short(res.stderr)}"

    def mount(m: Mount) -> tuple[Result, str]:
        problems, seen = [], []
        if not m.declared_read_only:
            problems.append("volumeMount not declared readOnly")
        paths = [f.path for f in m.files] or [m.path]
        for point, opts in sorted({(p, tuple(o)) for p, o in (mount_for(mounts, x) for x in paths)}):
            if "ro" not in opts:
                problems.append(f"{point} mounted {_mode(opts)}, not ro")
        for f in m.files:
            if f.content is None:
                if ex.run("test -f %s", f.path).rc != 0:
                    problems.append(f"{f.path} ({f.source}) missing")
                else:
                    seen.append(f.path)
                continue
            res = ex.run("cat -- %s", f.path)
            if res.rc != 0:
                problems.append(f"{f.path} ({f.source}) unreadable: {_short(res.stderr)}")
            elif res.stdout != f.content:
                problems.append(f"{f.path} differs from {f.source}")
            else:
                seen.append(f.path)
        if not m.files:
            problems.append(f"{m.source} projects no file here")
        if problems:
            return "failed", "; ".join(problems)
        return "passed", f"{', '.join(seen)} from {m.source}, mounted ro"

    guard("user", user)
    guard("ports", ports)
    try:  # read once: the root and config checks both look up their mount in it
        mounts = ex.read("/proc/self/mounts")
    except ClusterError as exc:
        out.append(Check(t.where, "mounts", "failed", str(exc)))
        return out
    guard("read-only root", root)
    for m in t.mounts:
        guard(f"{m.source.split('/')[0].lower()} {m.path}", lambda m=m: mount(m))
    if not t.mounts:
        out.append(Check(t.where, "config", "n/a", "no ConfigMap or Secret volume mounted"))
    return out


def require_kubectl(purpose: str) -> str:
    """$WEBSTACK_KUBECTL, else the pinned kubectl (`make setup` builds it at the cluster's version),
    else one on PATH.

    Its folder goes first on PATH too: testinfra's kubectl backend runs `kubectl` by name, and a
    host's older kubectl must not be the one it finds.
    """
    import os

    from webstack.toolchain import TOOLS

    explicit = os.environ.get("WEBSTACK_KUBECTL")
    pinned = Path(explicit) if explicit else TOOLS["kube-node"].binary("kubectl")
    found = str(pinned) if os.access(pinned, os.X_OK) else (None if explicit else shutil.which("kubectl"))
    if not found:
        where = f" (WEBSTACK_KUBECTL={explicit} is not an executable)" if explicit else ""
        raise ClusterError(f"kubectl is needed for {purpose}{where}: run `make setup` (builds a pinned one)")
    folder = str(Path(found).parent)
    if not os.environ.get("PATH", "").startswith(folder + os.pathsep):
        os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return found


def verify(kube: Any, namespace: str, kubeconfig: Path, context: str | None) -> list[Check]:
    """Every check for every container of one Ready pod per workload in `namespace`."""
    require_kubectl("testinfra's kubectl backend (checks inside the pods)")
    return run_checks(targets(kube, namespace), namespace, kubeconfig, context)


def run_checks(found: list[Target], namespace: str, kubeconfig: Path, context: str | None) -> list[Check]:
    if not found:
        raise ClusterError(f"no Deployment or StatefulSet in namespace {namespace}: nothing to check inside")
    return [c for t in found for c in check_target(_Exec(t, namespace, kubeconfig, context), t)]


def describe(checks: list[Check]) -> str:
    failed = sum(c.result == "failed" for c in checks)
    head = f"{len(checks)} checks in {len({c.where for c in checks})} containers, {failed} failed"
    return "\n".join([head, *(c.line() for c in checks)])


def _mode(opts: Any) -> str:
    """ro or rw out of a mount's options (overlay's lowerdir=... lists are noise in a report)."""
    return next((o for o in opts if o in ("ro", "rw")), "(no such mount)")


def _short(text: str, n: int = 200) -> str:
    text = " ".join(str(text).split())
    return text[:n] or "(no output)"
