"""The kernel objects one node cluster owns, and how each is made and removed.

A private network namespace (named after the cluster), daemons started inside it with
`nsenter --net` (only the network namespace: kubelet's volume mounts must stay visible to runc),
a cgroup root in every hierarchy, and the mounts kubelet and containerd make under the cluster's
folder. Teardown finds what is ours by facts the kernel keeps (a process's network namespace and
cgroup, a mount's path), so it works even when a daemon died or was killed mid-way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from webstack.errors import ClusterError, ToolchainError
from webstack.servers import Process, start_process

CGROUP_FS = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")


def run(cmd: Sequence[str], what: str, *, ns: str | None = None, check: bool = True) -> str:
    full = [*in_netns(ns), *cmd] if ns else list(cmd)
    try:
        res = subprocess.run(full, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise ToolchainError(f"{cmd[0]} is not installed ({what}): run `make setup`") from None
    if check and res.returncode != 0:
        raise ClusterError(f"{what} failed: `{' '.join(full)}`: {(res.stderr or res.stdout).strip()[-400:]}")
    return res.stdout


def in_netns(ns: str) -> list[str]:
    return ["nsenter", f"--net={NETNS_DIR / ns}", "--"]


# -- network namespace ------------------------------------------------------------------------------
def create_netns(ns: str, node_cidr: str, service_cidr: str, *, bridge: bool = False) -> None:
    """The namespace, its loopback, and the node address on `node0`: one end of a veth pair kept
    inside it (this kernel has no dummy links), or, when other nodes join (`bridge`), a bridge
    their links plug into. Forwarding and bridge netfilter are set inside it only: both sysctls
    are per network namespace, so the host's stay untouched."""
    run(["ip", "netns", "add", ns], f"creating network namespace {ns}")
    link = (["ip", "link", "add", "node0", "type", "bridge"] if bridge else
            ["ip", "link", "add", "node0", "type", "veth", "peer", "name", "node0-peer"])
    steps = [
        ["ip", "link", "set", "lo", "up"],
        link,
        ["ip", "addr", "add", node_cidr, "dev", "node0"],
        ["ip", "link", "set", "node0", "up"],
        *([] if bridge else [["ip", "link", "set", "node0-peer", "up"]]),
    ]
    for cmd in steps:
        run(cmd, f"setting up network namespace {ns}", ns=ns)
    _node_settings(ns, node_cidr, service_cidr)


def join_netns(first: str, ns: str, node: int, node_cidr: str, service_cidr: str) -> None:
    """Node `node`'s namespace: `node0` there is a veth whose peer (`w<node>`) is a port of the
    first namespace's bridge, so every node reaches every other on one link-layer segment."""
    run(["ip", "netns", "add", ns], f"creating network namespace {ns}")
    port = f"w{node}"
    run(["ip", "link", "add", port, "type", "veth", "peer", "name", "node0", "netns", ns],
        f"linking network namespace {ns} to {first}", ns=first)
    run(["ip", "link", "set", port, "master", "node0", "up"], f"plugging {port} into {first}'s bridge",
        ns=first)
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", node_cidr, "dev", "node0"],
                ["ip", "link", "set", "node0", "up"]):
        run(cmd, f"setting up network namespace {ns}", ns=ns)
    _node_settings(ns, node_cidr, service_cidr)


def _node_settings(ns: str, node_cidr: str, service_cidr: str) -> None:
    steps = [
        # Locally started connections to Service IPs (the probe's relay) need a route to exist
        # before kube-proxy's OUTPUT rules rewrite them to a pod address.
        ["ip", "route", "add", service_cidr, "dev", "node0", "src", node_cidr.split("/")[0]],
        ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
        ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"],
    ]
    for cmd in steps:
        run(cmd, f"setting up network namespace {ns}", ns=ns)


def route(ns: str, cidr: str, via: str) -> None:
    """Another node's pods are reached through that node's address."""
    run(["ip", "route", "add", cidr, "via", via, "dev", "node0"], f"routing {cidr} via {via} in {ns}", ns=ns)


def netns_inode(ns: str) -> int | None:
    try:
        return (NETNS_DIR / ns).stat().st_ino
    except OSError:
        return None


def delete_netns(ns: str) -> None:
    if (NETNS_DIR / ns).exists():
        run(["ip", "netns", "delete", ns], f"deleting network namespace {ns}", check=False)


# -- processes -------------------------------------------------------------------------------------
def start_daemon(name: str, cmd: Sequence[str], logs: Path, ns: str | None,
                 env: dict[str, str] | None = None) -> Process:
    full = [*in_netns(ns), *cmd] if ns else list(cmd)
    return start_process(name, full, logs / f"{name}.log", env=env)


def stop_daemon(proc: Process, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL at the deadline (kube-apiserver may ignore a first SIGTERM for minutes)."""
    if not proc.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.popen.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.popen.wait(5)


def stop_pidfile(pidfile: Path, roots: Sequence[Path], grace: float = 10) -> None:
    """Stop a daemon another process started, by its pid file; only if its command line still
    names one of the cluster's folders (else it exited and the pid belongs to someone else)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if not any(str(root) in cmdline for root in roots):
            return
        os.killpg(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    end = time.monotonic() + grace
    while time.monotonic() < end and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def pids_of(ns_inode: int | None, cgroup_root: str) -> list[int]:
    """Every process in our network namespace or under our cgroup root (shims, containers)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            if ns_inode is not None and os.stat(entry / "ns" / "net").st_ino == ns_inode:
                found.append(int(entry.name))
                continue
            for line in (entry / "cgroup").read_text().splitlines():
                path = line.split(":", 2)[2]
                if path == cgroup_root or path.startswith(cgroup_root + "/"):
                    found.append(int(entry.name))
                    break
    return found


def kill_all(ns_inode: int | None, cgroup_root: str, deadline: float = 10) -> list[int]:
    """SIGKILL what is left of ours, until nothing is; the pids that would not die."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pids = pids_of(ns_inode, cgroup_root)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return pids_of(ns_inode, cgroup_root)


# -- cgroups ---------------------------------------------------------------------------------------
def cgroup_dirs(cgroup_root: str) -> list[Path]:
    rel = cgroup_root.lstrip("/")
    return [h / rel for h in CGROUP_FS.iterdir() if (h / rel).is_dir()] if CGROUP_FS.is_dir() else []


def create_cgroups(cgroup_root: str) -> None:
    """kubelet wants its cgroup root to exist in every v1 hierarchy before it starts."""
    rel = cgroup_root.lstrip("/")
    for h in CGROUP_FS.iterdir():
        if h.is_dir() and not h.is_symlink() and (h / "cgroup.procs").exists():
            (h / rel).mkdir(exist_ok=True)
            if h.name == "cpuset":  # a new cpuset starts empty; copy the parent's cpus and mems
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with contextlib.suppress(OSError):
                        (h / rel / f).write_text((h / f).read_text())


def remove_cgroups(cgroup_root: str) -> list[Path]:
    """rmdir depth-first; the folders that could not be removed (still holding a process)."""
    left = []
    for top in cgroup_dirs(cgroup_root):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
        if top.exists():
            left.append(top)
    return left


# -- mounts ----------------------------------------------------------------------------------------
def mounts_under(*roots: Path) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == str(r) or point.startswith(str(r) + "/") for r in roots):
            out.append(point)
    return out


def unmount_under(*roots: Path) -> list[str]:
    """Lazily unmount everything below `roots`, deepest first; what is still mounted after."""
    for _ in range(3):
        points = mounts_under(*roots)
        if not points:
            return []
        for point in sorted(points, key=lambda p: -p.count("/")):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    return mounts_under(*roots)
