"""The kwok provider: a real control plane from local binaries, kwok simulating the data plane.

kwokctl's binary runtime starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok-controller as local processes from the binaries webstack.toolchain built (never downloads:
every binary is a local path, and nothing optional such as Prometheus is enabled). Everything
lives in one temporary folder (KWOK_WORKDIR, the kubeconfig, kwokctl's cache), bound to
127.0.0.1, and is removed by stop(). The stages in ./stages make nodes Ready, pods Running and
Ready, Job and Helm hook pods Succeeded, and PersistentVolumeClaims Bound.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from webstack.cluster import private_dir
from webstack.errors import ClusterError, ToolchainError
from webstack.servers import LOOPBACK, free_port, log_tail

STAGES_DIR = Path(__file__).with_name("stages")
STORAGE_CLASS = "webstack-kwok"
NODE_NAME = "kwok-node-0"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")


def binaries() -> dict[str, Path]:
    """The local binaries for every component; ToolchainError saying how to get any that is missing."""
    from webstack.toolchain import TOOLS

    found = {
        "kwokctl": TOOLS["kwok"].binary("kwokctl"),
        "kwok-controller": TOOLS["kwok"].binary("kwok"),
        "etcd": TOOLS["etcd"].binary("etcd"),
        **{
            c: TOOLS["kubernetes"].binary(c)
            for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        },
    }
    missing = [f"{k} ({p})" for k, p in found.items() if not os.access(p, os.X_OK)]
    if missing:
        raise ToolchainError(
            f"the kwok cluster needs binaries that are not built yet: {', '.join(missing)}. "
            "Run `make setup` (builds and caches them once)."
        )
    return found


# Every component port is chosen by us: kwokctl's own choice scans down from 32767, so two
# clusters starting at once (a test run beside `make smoke`) pick the same ports and collide.
PORT_OPTIONS = ("kubeApiserverPort", "etcdPort", "etcdPeerPort", "kubeControllerManagerPort",
                "kubeSchedulerPort", "kwokControllerPort")


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def kwokctl_config(bins: dict[str, Path], cache: Path, ports: dict[str, int]) -> str:
    """kwokctl's configuration followed by our Stage documents (which replace kwok's defaults)."""
    options = {
        "runtime": "binary",
        "bindAddress": LOOPBACK,
        **ports,
        "securePort": True,
        "quietPull": True,
        "cacheDir": str(cache),
        "kubeApiserverBinary": str(bins["kube-apiserver"]),
        "kubeControllerManagerBinary": str(bins["kube-controller-manager"]),
        "kubeSchedulerBinary": str(bins["kube-scheduler"]),
        "etcdBinary": str(bins["etcd"]),
        "kwokControllerBinary": str(bins["kwok-controller"]),
    }
    # A throwaway cluster's datastore need not survive a power cut: without fsync its writes stop
    # costing the disk queue (the node provider's etcd runs the same way).
    no_fsync = {"name": "etcd", "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}]}
    docs = [
        {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration", "options": options,
         "componentsPatches": [no_fsync]}
    ]
    text = yaml.safe_dump_all(docs, sort_keys=False)
    for stage in sorted(STAGES_DIR.glob("*.yaml")):
        text += "---\n" + stage.read_text()
    return text


class KwokCluster:
    """One kwok cluster in a private temporary folder. start() and stop() are the whole life."""

    provider = "kwok"
    runs_containers = False

    def __init__(self, name: str | None = None, start_timeout: float = 90) -> None:
        self.name = name or f"webstack-{secrets.token_hex(3)}"
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.started_seconds = 0.0

    # -- paths inside the private folder -------------------------------------------------------
    def _root(self) -> Path:
        if self.root is None:
            raise ClusterError(f"kwok cluster {self.name} is not started")
        return self.root

    @property
    def workdir(self) -> Path:
        return self._root() / "kwok" / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self._root() / "kubeconfig"

    @property
    def context(self) -> str | None:
        return f"kwok-{self.name}"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    def _env(self) -> dict[str, str]:
        return dict(os.environ, KWOK_WORKDIR=str(self._root() / "kwok"))

    def _kwokctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        cmd = [str(binaries()["kwokctl"]), "--name", self.name, *args]
        with (self._root() / "kwokctl.log").open("a") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            try:
                return subprocess.run(
                    cmd,
                    env=self._env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired as exc:
                raise ClusterError(
                    f"`kwokctl {' '.join(args)}` did not finish within {timeout:.0f}s"
                ) from exc

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        bins = binaries()
        started = time.monotonic()
        self.root = private_dir(f"{self.name}-")
        config = self._root() / "kwokctl.yaml"
        ports = dict(zip(PORT_OPTIONS, distinct_free_ports(len(PORT_OPTIONS)), strict=True))
        config.write_text(kwokctl_config(bins, self._root() / "cache", ports))
        try:
            res = self._kwokctl(
                "--config",
                str(config),
                "create",
                "cluster",
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                f"{int(self.start_timeout)}s",
                timeout=self.start_timeout + 30,
            )
            if res.returncode != 0:
                raise ClusterError(
                    f"kwokctl could not create cluster {self.name} (exit {res.returncode}):\n"
                    f"{self.diagnostics()}"
                )
            self._prepare()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started

    def _prepare(self) -> None:
        """A Ready node, a default StorageClass served by our stages, the default ServiceAccount."""
        from kubernetes import client

        from webstack.cluster.kube import connect

        kube = connect(self.kubeconfig, self.context)
        try:
            kube.core.create_node(
                client.V1Node(
                    metadata=client.V1ObjectMeta(
                        name=NODE_NAME,
                        annotations={"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        labels={
                            "kubernetes.io/hostname": NODE_NAME,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "type": "kwok",
                        },
                    )
                )
            )
            kube.storage.create_storage_class(
                client.V1StorageClass(
                    metadata=client.V1ObjectMeta(
                        name=STORAGE_CLASS,
                        annotations={"storageclass.kubernetes.io/is-default-class": "true"},
                    ),
                    provisioner="webstack.kwok/volume",
                    reclaim_policy="Delete",
                    volume_binding_mode="Immediate",
                )
            )
            self._wait(lambda: _node_ready(kube.core.read_node(NODE_NAME)), f"node {NODE_NAME} Ready")
            self._wait(lambda: _has_default_sa(kube), "the default ServiceAccount")
        finally:
            kube.close()

    def _wait(self, predicate: object, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if predicate():  # type: ignore[operator]
                    return
            time.sleep(0.2)
        raise ClusterError(
            f"kwok cluster {self.name}: no {what} within {self.start_timeout:.0f}s\n{self.diagnostics()}"
        )

    def load_images(self, images: list[str]) -> None:
        """Nothing to load: kwok runs no containers (pods are simulated from their spec)."""

    def pids(self) -> dict[str, int]:
        """Live component processes, from kwokctl's pid files."""
        if self.root is None:
            return {}
        found = {}
        for pidfile in (self.workdir / "pids").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pidfile.read_text().strip())
                if _alive(pid):
                    found[pidfile.stem] = pid
        return found

    def ports(self) -> list[int]:
        """Every port kwokctl chose for this cluster (all on 127.0.0.1)."""
        saved = self.workdir / "kwok.yaml" if self.root else None
        if not saved or not saved.exists():
            return []
        for doc in yaml.safe_load_all(saved.read_text()):
            if doc and doc.get("kind") == "KwokctlConfiguration":
                opts = doc.get("options", {})
                return sorted(
                    {int(v) for k, v in opts.items() if k.endswith("Port") and type(v) is int and v}
                )
        return []

    def diagnostics(self) -> str:
        """The tail of kwokctl's output and of each component log, for error messages."""
        if self.root is None:
            return ""
        parts = [f"kwokctl:\n{log_tail(self._root() / 'kwokctl.log', 15)}"]
        for comp in COMPONENTS:
            log = self.logs_dir / f"{comp}.log"
            if log.exists():
                parts.append(f"{comp} ({log}):\n{log_tail(log, 8)}")
        return "\n".join(parts)

    def stop(self, keep_logs_in: Path | None = None) -> None:
        """Delete the cluster: stop every process, keep logs if asked, remove the folder. Idempotent."""
        if self.root is None:
            return
        if keep_logs_in is not None:
            self.copy_logs(keep_logs_in)
        pids = self.pids()
        if self.workdir.exists():
            with contextlib.suppress(ClusterError, ToolchainError):
                self._kwokctl("delete", "cluster", "--kubeconfig", str(self.kubeconfig), timeout=60)
        # Whatever kwokctl did not stop (it was interrupted, or a pid file was missing) we stop here.
        for pid in pids.values():
            if _runs_from(pid, self.root):  # never signal a recycled pid that is not ours
                _terminate(pid)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def copy_logs(self, dest: Path) -> None:
        if self.root is None:
            return
        dest = dest / f"kwok-{self.name}-logs"
        dest.mkdir(parents=True, exist_ok=True)
        for log in [*self.logs_dir.glob("*.log"), self._root() / "kwokctl.log"]:
            if log.exists():
                shutil.copy2(log, dest / log.name)


def _node_ready(node: object) -> bool:
    conds = getattr(getattr(node, "status", None), "conditions", None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def _has_default_sa(kube: object) -> bool:
    kube.core.read_namespaced_service_account("default", "default")  # type: ignore[attr-defined]
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by init) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _runs_from(pid: int, root: Path) -> bool:
    try:
        return str(root) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _terminate(pid: int, grace: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
