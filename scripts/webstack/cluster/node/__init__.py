"""The node provider: a real Kubernetes of 1 to 3 nodes where the chart's containers really run.

etcd, kube-apiserver, controller-manager and scheduler (the kwok provider's binaries) and CoreDNS
(built from its module) run once, in the first node's private network namespace
(webstack.cluster.node.controlplane); each node (webstack.cluster.node.worker) has its own
namespace, containerd + runc + CNI bridge (Debian), kubelet and kube-proxy (built from the
Kubernetes module), all host processes. Nothing can reach out (no route out), and the host's
netfilter rules, sysctls and ports are untouched. The toolkit's own clients reach the API server
through a loopback relay, so all traffic goes to 127.0.0.0/8 or to addresses inside the
namespaces. Images are built here (webstack.images) and imported into every node's containerd:
pods never pull. PVCs bind through our own local provisioner (webstack.cluster.node.provisioner).
Two clusters can run at once: every name, folder, socket, cgroup root and host port is per cluster.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from webstack.cluster import MAX_NODES, check_nodes, private_dir
from webstack.cluster.node import configs, controlplane, host, pki
from webstack.cluster.node.configs import API_PORT, FIRST_NODE, NODE_IP, Layout
from webstack.cluster.node.programs import CNI_RESULTS, binaries, unavailable_reason
from webstack.cluster.node.worker import Worker
from webstack.errors import ClusterError
from webstack.servers import LOOPBACK, Process, free_port, log_tail, port_open

NODE_NAME = FIRST_NODE
STORAGE_CLASS = "webstack-local"
class NodeCluster:
    """One real node cluster; start() and stop() are the whole life (stop is idempotent)."""

    provider = "node"
    runs_containers = True

    def __init__(self, name: str | None = None, start_timeout: float = 120,
                 app_versions: list[str] | None = None, api_port: int = 0,
                 app_dir: Path | None = None, nodes: int = 1) -> None:
        self.name = name or f"ws-{secrets.token_hex(4)}"
        if len(self.name) > 15 or not self.name.replace("-", "").isalnum():
            raise ClusterError(f"cluster name {self.name!r}: at most 15 letters, digits and '-'")
        check_nodes("node", nodes)
        self.nodes = nodes
        self.workers: list[Worker] = []
        self.start_timeout = start_timeout
        self.app_versions = app_versions or []
        self.layout: Layout | None = None
        self.procs: dict[str, Process] = {}
        self.api_port = api_port  # 0: a free one is chosen at start
        self.app_dir = app_dir  # the app image's build context (default app/)
        self.images: list[Any] = []  # webstack.images.BuiltImage, once imported
        self.started_seconds = 0.0
        self.timings: dict[str, float] = {}

    @property
    def root(self) -> Path | None:
        return self.layout.root if self.layout else None

    @root.setter
    def root(self, path: Path) -> None:
        """Attach to a cluster an earlier process started (`webstack cluster down`)."""
        self.layout = Layout(self.name, path)

    # -- what clients use ---------------------------------------------------------------------------
    @property
    def lay(self) -> Layout:
        if self.layout is None:
            raise ClusterError(f"node cluster {self.name} is not started")
        return self.layout

    @property
    def kubeconfig(self) -> Path:
        return self.lay.root / "kubeconfig"

    @property
    def context(self) -> str | None:
        return f"webstack-{self.name}"

    def chart_values(self) -> dict[str, Any]:
        """The values overlay mapping the chart's images to the ones built and imported here."""
        from webstack import images

        if not self.images:
            return {}
        overlay = images.chart_values_overlay(self.images)
        if len(self.workers) > 1:
            # Prometheus and the API server run in the first node's namespace, not in pods: kube-router
            # admits them to that node's pods only, so their address is admitted to the app's /metrics
            # and nginx's stub_status on the other nodes, as a user admits their Prometheus.
            peer = {"ipBlock": {"cidr": f"{NODE_IP}/32"}}
            overlay["flask"]["networkPolicy"] = {"extraFrom": [peer]}
            overlay.setdefault("nginx", {})["networkPolicy"] = {"statusFrom": [peer]}
        return overlay

    def substitutions(self) -> list[str]:
        from webstack import images

        return images.substitutions(self.images)

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if reason := unavailable_reason():
            raise ClusterError(f"the node provider cannot run here: {reason}; `--provider kwok` runs the "
                               "lifecycle at API level instead (simulated pods)")
        bins = binaries()
        probe = Layout(self.name, Path("/nonexistent"))
        in_use = [str(p) for n in (probe.of_node(k) for k in range(1, MAX_NODES + 1))
                  for p in [host.NETNS_DIR / n.netns, *host.cgroup_dirs(n.cgroup_root)] if p.exists()]
        if (configs.SHORT_DIR / self.name).exists():
            in_use.append(str(configs.SHORT_DIR / self.name))
        if in_use:  # checked before anything is made: a failed start must not remove what another has
            raise ClusterError(f"a node cluster named {self.name} exists ({', '.join(in_use)}): "
                               f"`webstack cluster down --name {self.name}`, or choose another name")
        started = time.monotonic()
        self.layout = Layout(self.name, private_dir(f"webstack-{self.name}-"))
        self.workers = [Worker(self, k) for k in range(1, self.nodes + 1)]
        try:
            self._timed("images", lambda: self._build_images())
            self._timed("files", lambda: self._write_files())
            self._timed("network", lambda: self._network())
            self._timed("containerd", lambda: [w.containerd(bins) for w in self.workers])
            # Importing (unpacking) the images is the slowest part: it overlaps the control plane's
            # start, and each image is imported into each node by its own ctr process.
            with ThreadPoolExecutor(len(self.images) or 1) as pool:
                imports = [pool.submit(w.import_image, image) for w in self.workers for image in self.images]
                self._timed("control plane", lambda: controlplane.start(self, bins))
                self._timed("nodes", lambda: [w.kubelet(bins) for w in self.workers])
                self._timed("ready", lambda: self._prepare())
                t = time.monotonic()
                for done in imports:
                    done.result()
                self.timings["images imported after ready"] = time.monotonic() - t
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started

    def _timed(self, what: str, fn: Any) -> None:
        t = time.monotonic()
        fn()
        self.timings[what] = time.monotonic() - t

    def _build_images(self) -> None:
        from webstack import images
        from webstack.paths import APP_DIR

        if not self.app_versions:  # the app as checked out; the lifecycle adds its upgrade version
            self.app_versions = [(APP_DIR / "VERSION").read_text().strip()]
        self.images = images.build(self.app_versions, app_dir=self.app_dir)

    def _write_files(self) -> None:
        from webstack import images

        lay = self.lay
        for d in (lay.pki, lay.logs, lay.sockets, lay.volumes, lay.path("cni")):
            d.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca(lay.pki)
        pki.service_account_keys(lay.pki)
        pki.issue(lay.pki, ca, "apiserver", "/CN=kube-apiserver",
                  server_names=["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                f"kubernetes.default.svc.{configs.CLUSTER_DOMAIN}", "localhost"],
                  server_ips=[NODE_IP, LOOPBACK, configs.SERVICE_API_IP])
        admin = pki.issue(lay.pki, ca, "admin", "/O=system:masters/CN=webstack-admin")
        self.api_port = self.api_port or free_port()
        inside = f"https://{NODE_IP}:{API_PORT}"
        files = {
            "admin-inside.kubeconfig": configs.kubeconfig(inside, ca.cert, admin.cert, admin.key, "inside"),
            "Corefile": configs.corefile(lay),
            # Pods get cluster DNS; the nodes themselves have no upstream resolver (nothing leaves).
            "resolv.conf": f"nameserver {NODE_IP}\n",
        }
        for name, text in files.items():
            lay.path(name).write_text(text)
        for worker in self.workers:
            worker.write_files(ca, images.PAUSE_REF)
        self.kubeconfig.write_text(configs.kubeconfig(
            f"https://{LOOPBACK}:{self.api_port}", ca.cert, admin.cert, admin.key, self.context or ""))
        self.kubeconfig.chmod(0o600)

    def _network(self) -> None:
        for worker in self.workers:
            worker.namespace(self.nodes)
        for worker in self.workers:
            worker.routes(self.nodes)

    def daemon(self, name: str, cmd: list[str], *, inside: bool = True, ns: str | None = None) -> Process:
        """Start a daemon (in the first node's namespace, or `ns`, or on the host) with a pid file."""
        where = (ns or self.lay.netns) if inside else None
        proc = host.start_daemon(name, cmd, self.lay.logs, where)
        self.procs[name] = proc
        (self.lay.root / "pids").mkdir(exist_ok=True)
        (self.lay.root / "pids" / f"{name}.pid").write_text(str(proc.pid))
        return proc

    def wait(self, predicate: Any, what: str, proc: Process | None = None,
             timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if predicate():
                    return
            if proc is not None and not proc.alive():
                raise ClusterError(
                    f"node cluster {self.name}: {proc.name} exited before {what}\n{log_tail(proc.log, 15)}")
            time.sleep(0.1)
        tail = f"\n{log_tail(proc.log, 15)}" if proc else ""
        raise ClusterError(f"node cluster {self.name}: no {what} within {timeout or self.start_timeout:.0f}s"
                           f"{tail}")

    def _prepare(self) -> None:
        """Nodes Ready, a default StorageClass with its provisioner, the default ServiceAccount."""
        from kubernetes import client

        from webstack.cluster.kube import connect

        kube = connect(self.kubeconfig, self.context)
        try:
            for w in self.workers:
                self.wait(lambda w=w: _node_ready(kube.core.read_node(w.name)), f"node {w.name} Ready",
                          self.procs[w.proc("kubelet")])
            kube.storage.create_storage_class(client.V1StorageClass(
                metadata=client.V1ObjectMeta(
                    name=STORAGE_CLASS, annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
                provisioner="webstack.node/local", reclaim_policy="Delete",
                volume_binding_mode="Immediate"))
            self.wait(lambda: bool(kube.core.read_namespaced_service_account("default", "default")),
                      "the default ServiceAccount")
        finally:
            kube.close()
        lay = self.lay
        self.daemon("provisioner", [
            sys.executable, "-m", "webstack.cluster.node.provisioner",
            str(lay.path("admin-inside.kubeconfig")),
            str(lay.volumes), NODE_NAME, STORAGE_CLASS, str(lay.logs / "provisioner-events.log")])

    def worker(self, name: str) -> Worker:
        """The node called `name` (a Kubernetes node name)."""
        for w in self.workers:
            if w.name == name:
                return w
        raise ClusterError(f"node cluster {self.name} has no node {name} (nodes: "
                           f"{', '.join(w.name for w in self.workers)})")

    def lose_node(self, name: str) -> list[int]:
        """Node `name` goes away abruptly: its kubelet, containerd, kube-proxy and containers SIGKILLed."""
        return self.worker(name).lose()

    def restore_node(self, name: str) -> None:
        """Start a lost node's containerd, kubelet and kube-proxy again (its files and state are kept)."""
        self.worker(name).restore(binaries())

    def restart_enforcer(self, name: str) -> None:
        """Restart node `name`'s NetworkPolicy enforcer, keeping the address sets and rules it made."""
        self.worker(name).restart_enforcer(binaries())

    def load_images(self, images: list[str]) -> None:
        """Build (or take from the cache) and import the app images named `webstack/app:<version>`."""
        from webstack import images as img

        versions = [ref.rsplit(":", 1)[1] for ref in images if ":" in ref]
        new = [v for v in versions if v not in self.app_versions]
        if not new or self.layout is None:
            return
        self.app_versions += new
        built = [b for b in img.build(self.app_versions, app_dir=self.app_dir) if b.name == "app"
                 and b.ref.rsplit(":", 1)[1] in new]
        for worker in self.workers:
            for image in built:
                worker.import_image(image)
        self.images += built

    def forward_service(self, namespace: str, service: str, port: int) -> int:
        """A loopback port on the host that reaches a Service's ClusterIP through kube-proxy.

        Unlike `kubectl port-forward` (which pins one pod), traffic here is balanced over the
        Service's ready endpoints as a pod's would be: the zero-downtime probe measures that.
        """
        from webstack.cluster.kube import connect

        kube = connect(self.kubeconfig, self.context)
        try:
            ip = kube.core.read_namespaced_service(service, namespace).spec.cluster_ip
        finally:
            kube.close()
        tag = f"forward-{len([n for n in self.procs if n.startswith('forward-')]) // 2}"
        sock = self.lay.sockets / f"{tag}.sock"
        self.daemon(f"{tag}-inside", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:{ip}:{port}"])
        local = free_port()
        proc = self.daemon(f"{tag}-host", ["socat", f"TCP-LISTEN:{local},bind={LOOPBACK},fork,reuseaddr",
                                            f"UNIX-CONNECT:{sock}"], inside=False)
        self.wait(lambda: port_open(local), f"the relay to svc/{service} on {LOOPBACK}:{local}", proc, 10)
        return local

    def start_prometheus(self, monitors: list[dict[str, Any]], rules_text: str, interval: str = "1s") -> str:
        """Prometheus in the node's namespace scraping `monitors` (rendered ServiceMonitors); its URL."""
        from webstack.cluster.node import prometheus

        return prometheus.start(self, monitors, rules_text, interval=interval)

    # -- teardown -----------------------------------------------------------------------------------
    def stop(self, keep_logs_in: Path | None = None) -> None:
        """Stop everything of every node and remove every trace; ClusterError listing what stayed.

        Every possible node is swept (up to MAX_NODES), so `webstack cluster down`, which does not
        know how many nodes an earlier `up` started, removes them all."""
        if self.layout is None:
            return
        lay = self.lay
        if keep_logs_in is not None:
            self.copy_logs(keep_logs_in)
        nodes = [lay.of_node(k) for k in range(1, MAX_NODES + 1)]
        inodes = [host.netns_inode(n.netns) for n in nodes]
        pidfiles = sorted((lay.root / "pids").glob("*.pid")) if (lay.root / "pids").is_dir() else []
        for name in sorted({p.stem for p in pidfiles} | set(self.procs), key=_stop_rank):
            if name in self.procs:
                host.stop_daemon(self.procs.pop(name))
            else:
                host.stop_pidfile(lay.root / "pids" / f"{name}.pid", (lay.root, lay.short))
        stuck = [pid for n, inode in zip(nodes, inodes, strict=True)
                 for pid in host.kill_all(inode, n.cgroup_root)]
        left_mounts = host.unmount_under(lay.root, lay.short)
        for f in CNI_RESULTS.glob(f"{lay.cni_network}-*") if CNI_RESULTS.is_dir() else []:
            f.unlink(missing_ok=True)  # every node's network is named <cluster>[-k]
        left_cgroups = [c for n in nodes for c in host.remove_cgroups(n.cgroup_root)]
        for n in reversed(nodes):  # the others' links plug into the first node's bridge
            host.delete_netns(n.netns)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.short, ignore_errors=True)
        self.layout = None
        self.workers = []
        problems = [f"processes {stuck}" if stuck else "",
                    f"mounts {left_mounts}" if left_mounts else "",
                    f"cgroups {[str(c) for c in left_cgroups]}" if left_cgroups else ""]
        if any(problems):
            raise ClusterError(f"node cluster {self.name} left {', '.join(p for p in problems if p)}")

    def copy_logs(self, dest: Path) -> None:
        if self.layout is None:
            return
        out = dest / f"node-{self.name}-logs"
        out.mkdir(parents=True, exist_ok=True)
        for log in self.lay.logs.glob("*.log"):
            shutil.copy2(log, out / log.name)
        for worker in self.workers:
            if worker.lay.pod_logs.is_dir():
                shutil.copytree(worker.lay.pod_logs, out / f"pods{worker.lay.suffix}", dirs_exist_ok=True,
                                symlinks=False, ignore_dangling_symlinks=True)

    def diagnostics(self) -> str:
        if self.layout is None:
            return ""
        return "\n".join(f"{name} ({p.log}):\n{log_tail(p.log, 8)}" for name, p in self.procs.items())


# Kubelets first (they would restart what stops under them), containerd last of the node's;
# relays and forwards (any other name) after everything.
STOP_ORDER = ("kubelet", "provisioner", "kube-router", "kube-proxy", "coredns", "kube-scheduler",
              "kube-controller-manager", "kube-apiserver", "etcd", "containerd")


def _stop_rank(name: str) -> tuple[int, str]:
    base = name.rsplit("-", 1)[0] if name[-1].isdigit() and name.rsplit("-", 1)[0] in STOP_ORDER else name
    return (STOP_ORDER.index(base) if base in STOP_ORDER else len(STOP_ORDER), name)


def _node_ready(node: Any) -> bool:
    conds = getattr(getattr(node, "status", None), "conditions", None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)
