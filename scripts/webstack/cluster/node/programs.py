"""The programs a node cluster runs, and whether this machine can run one at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from webstack.cluster.node import host
from webstack.errors import ToolchainError

HOST_PROGRAMS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "ip", "socat",
                 "iptables", "iptables-restore", "conntrack", "openssl", "sysctl", "umount", "ipset")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
CNI_DIR = Path("/usr/lib/cni")
CNI_RESULTS = Path("/var/lib/cni/results")


def binaries() -> dict[str, Path]:
    """Every program the node needs; ToolchainError naming each missing one and how to get it."""
    from webstack.toolchain import TOOLS

    found: dict[str, Path] = {
        "etcd": TOOLS["etcd"].binary("etcd"),
        **{c: TOOLS["kubernetes"].binary(c)
           for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")},
        **{c: TOOLS["kube-node"].binary(c) for c in ("kubelet", "kube-proxy", "kubectl")},
        "coredns": TOOLS["coredns"].binary("coredns"),
        "kube-router": TOOLS["kube-router"].binary("kube-router"),  # the NetworkPolicy enforcer
    }
    missing = [f"{k} ({p})" for k, p in found.items() if not os.access(p, os.X_OK)]
    for prog in HOST_PROGRAMS:
        where = shutil.which(prog) or next(
            (f"{d}/{prog}" for d in ("/usr/sbin", "/sbin") if os.access(f"{d}/{prog}", os.X_OK)), None)
        if where:
            found[prog] = Path(where)
        else:
            missing.append(prog)
    missing += [f"CNI plugin {p} ({CNI_DIR / p})" for p in CNI_PLUGINS if not (CNI_DIR / p).exists()]
    if missing:
        raise ToolchainError(
            f"the node cluster needs programs that are not here: {', '.join(missing)}. "
            "Run `make setup` (installs the Debian packages and builds the pinned tools once)."
        )
    return found


def unavailable_reason() -> str:
    """Why a real node cannot run on this machine ('' when it can): root, namespaces, cgroups."""
    if os.geteuid() != 0:
        return "the node provider needs root (network namespaces, cgroups, mounts)"
    if not host.CGROUP_FS.is_dir() or not (host.CGROUP_FS / "memory").is_dir():
        return f"no cgroup v1 memory hierarchy under {host.CGROUP_FS}"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces"
    return ""
