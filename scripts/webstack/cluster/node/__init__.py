"""The node provider: a real single-node Kubernetes where the chart's containers really run.

etcd, kube-apiserver, controller-manager and scheduler (the kwok provider's binaries), kubelet and
kube-proxy (built from the same Kubernetes module), containerd + runc + CNI plugins from Debian
and CoreDNS (built from its module) all run as host processes inside a private network namespace
named after the cluster. Nothing in it can reach out (it has no route out), and the host's
netfilter rules, sysctls and ports are untouched. The toolkit's own clients reach the API server
through a loopback relay (127.0.0.1:<port> on the host -> a Unix socket -> the API server inside),
so all traffic goes to 127.0.0.0/8 or to addresses inside the namespace. Images are built here
(webstack.images) and imported into containerd: pods never pull. PVCs bind through our own local
provisioner (webstack.cluster.node.provisioner). Two clusters can run at once: every name, folder,
socket, cgroup root and host port is per cluster.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from webstack.cluster import private_dir
from webstack.cluster.node import configs, host, pki
from webstack.cluster.node.configs import API_PORT, NODE_IP, Layout
from webstack.errors import ClusterError, ToolchainError
from webstack.servers import LOOPBACK, Process, free_port, log_tail, port_open

NODE_NAME = "webstack-node"
STORAGE_CLASS = "webstack-local"
HOST_PROGRAMS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "ip", "socat",
                 "iptables", "iptables-restore", "conntrack", "openssl", "sysctl", "umount")
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


class NodeCluster:
    """One real node cluster; start() and stop() are the whole life (stop is idempotent)."""

    provider = "node"
    runs_containers = True

    def __init__(self, name: str | None = None, start_timeout: float = 120,
                 app_versions: list[str] | None = None, api_port: int = 0,
                 app_dir: Path | None = None) -> None:
        self.name = name or f"ws-{secrets.token_hex(4)}"
        if len(self.name) > 15 or not self.name.replace("-", "").isalnum():
            raise ClusterError(f"cluster name {self.name!r}: at most 15 letters, digits and '-'")
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
        return images.chart_values_overlay(self.images)

    def substitutions(self) -> list[str]:
        from webstack import images

        return images.substitutions(self.images)

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if reason := unavailable_reason():
            raise ClusterError(f"the node provider cannot run here: {reason}; `--provider kwok` runs the "
                               "lifecycle at API level instead (simulated pods)")
        bins = binaries()
        if in_use := [str(p) for p in (host.NETNS_DIR / self.name, configs.SHORT_DIR / self.name)
                      if p.exists()] + [str(p) for p in host.cgroup_dirs(f"/{self.name}")]:
            # Checked before anything is made: a failed start must not remove what another has.
            raise ClusterError(f"a node cluster named {self.name} exists ({', '.join(in_use)}): "
                               f"`webstack cluster down --name {self.name}`, or choose another name")
        started = time.monotonic()
        self.layout = Layout(self.name, private_dir(f"webstack-{self.name}-"))
        try:
            self._timed("images", lambda: self._build_images())
            self._timed("files", lambda: self._write_files(bins))
            self._timed("network", lambda: self._namespace())
            self._timed("containerd", lambda: self._containerd(bins))
            # Importing (unpacking) the images is the slowest part: it overlaps the control plane's
            # start, and each image is imported by its own ctr process.
            with ThreadPoolExecutor(len(self.images) or 1) as pool:
                imports = [pool.submit(self._import, [image]) for image in self.images]
                self._timed("control plane", lambda: self._control_plane(bins))
                self._timed("node", lambda: self._node(bins))
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

    def _write_files(self, bins: dict[str, Path]) -> None:
        lay = self.lay
        for d in (lay.pki, lay.logs, lay.path("cni"), lay.sockets, lay.volumes,
                  lay.kubelet_dir, lay.root / "pod-logs"):
            d.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca(lay.pki)
        pki.service_account_keys(lay.pki)
        pki.issue(lay.pki, ca, "apiserver", "/CN=kube-apiserver",
                  server_names=["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                f"kubernetes.default.svc.{configs.CLUSTER_DOMAIN}", "localhost"],
                  server_ips=[NODE_IP, LOOPBACK, configs.SERVICE_API_IP])
        pki.issue(lay.pki, ca, "kubelet-serving", f"/CN={NODE_NAME}", server_names=[NODE_NAME],
                  server_ips=[NODE_IP])
        admin = pki.issue(lay.pki, ca, "admin", "/O=system:masters/CN=webstack-admin")
        node = pki.issue(lay.pki, ca, "node", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
        self.api_port = self.api_port or free_port()
        inside = f"https://{NODE_IP}:{API_PORT}"
        files = {
            "admin-inside.kubeconfig": configs.kubeconfig(inside, ca.cert, admin.cert, admin.key, "inside"),
            "kubelet.kubeconfig": configs.kubeconfig(inside, ca.cert, node.cert, node.key, "inside"),
            "containerd.toml": configs.containerd_toml(lay, self._pause_ref()),
            "kubelet.yaml": configs.kubelet_config(lay, NODE_NAME),
            "kube-proxy.yaml": configs.kube_proxy_config(lay, NODE_NAME),
            "Corefile": configs.corefile(lay),
            # Pods get cluster DNS; the node itself has no upstream resolver (nothing leaves).
            "resolv.conf": f"nameserver {NODE_IP}\n",
        }
        for name, text in files.items():
            lay.path(name).write_text(text)
        cni = lay.path("cni") / "10-webstack.conflist"
        tmp = cni.with_suffix(".tmp")  # containerd watches the folder: never let it see half a file
        tmp.write_text(configs.cni_conflist(lay))
        tmp.rename(cni)
        self.kubeconfig.write_text(configs.kubeconfig(
            f"https://{LOOPBACK}:{self.api_port}", ca.cert, admin.cert, admin.key, self.context or ""))
        self.kubeconfig.chmod(0o600)

    def _pause_ref(self) -> str:
        from webstack import images

        return images.PAUSE_REF

    def _namespace(self) -> None:
        host.create_netns(self.lay.netns, configs.NODE_CIDR, configs.SERVICE_CIDR)
        host.create_cgroups(self.lay.cgroup_root)

    def _daemon(self, name: str, cmd: list[str], *, inside: bool = True) -> Process:
        proc = host.start_daemon(name, cmd, self.lay.logs, self.lay.netns if inside else None)
        self.procs[name] = proc
        (self.lay.root / "pids").mkdir(exist_ok=True)
        (self.lay.root / "pids" / f"{name}.pid").write_text(str(proc.pid))
        return proc

    def _wait(self, predicate: Any, what: str, proc: Process | None = None,
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

    def _containerd(self, bins: dict[str, Path]) -> None:
        proc = self._daemon("containerd", [str(bins["containerd"]), "--config",
                                           str(self.lay.path("containerd.toml"))])
        self._wait(lambda: self._ctr("version").returncode == 0, "containerd answering", proc, 30)

    def _ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = ["ctr", "--address", str(self.lay.containerd_socket), "--namespace", "k8s.io", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)

    def _import(self, built: list[Any]) -> None:
        for image in built:
            res = self._ctr("images", "import", str(image.archive), timeout=300)
            if res.returncode != 0:
                raise ClusterError(
                    f"importing {image.ref} into containerd failed: {res.stderr.strip()[-400:]}")

    def _control_plane(self, bins: dict[str, Path]) -> None:
        lay, p = self.lay, self.lay.pki
        etcd = self._daemon("etcd", [
            str(bins["etcd"]), "--name", "node", "--data-dir", str(lay.root / "etcd"),
            "--listen-client-urls", "http://127.0.0.1:2379",
            "--advertise-client-urls", "http://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "node=http://127.0.0.1:2380", "--unsafe-no-fsync",
            "--listen-metrics-urls", "http://127.0.0.1:2381",
        ])
        self._relay()
        api = self._daemon("kube-apiserver", [
            str(bins["kube-apiserver"]), "--etcd-servers", "http://127.0.0.1:2379",
            "--bind-address", "0.0.0.0", "--secure-port", str(API_PORT), "--advertise-address", NODE_IP,
            "--service-cluster-ip-range", configs.SERVICE_CIDR,
            "--client-ca-file", str(p / "ca.crt"),
            "--tls-cert-file", str(p / "apiserver.crt"), "--tls-private-key-file", str(p / "apiserver.key"),
            "--kubelet-client-certificate", str(p / "admin.crt"),
            "--kubelet-client-key", str(p / "admin.key"),
            "--kubelet-certificate-authority", str(p / "ca.crt"),
            # exec/port-forward would otherwise resolve the node name through the host's resolver.
            "--kubelet-preferred-address-types", "InternalIP",
            "--service-account-issuer", f"https://kubernetes.default.svc.{configs.CLUSTER_DOMAIN}",
            "--service-account-key-file", str(p / "sa.pub"),
            "--service-account-signing-key-file", str(p / "sa.key"),
            "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
            "--allow-privileged=false", "--profiling=false",
        ])
        self._wait(lambda: etcd.alive() and self._api_ready(), "API server ready", api)
        kubeconfig = str(lay.path("admin-inside.kubeconfig"))
        self._daemon("kube-controller-manager", [
            str(bins["kube-controller-manager"]), "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
            "--bind-address", "127.0.0.1", "--service-account-private-key-file", str(p / "sa.key"),
            "--root-ca-file", str(p / "ca.crt"), "--use-service-account-credentials",
            "--cluster-signing-cert-file", str(p / "ca.crt"), "--cluster-signing-key-file", str(p / "ca.key"),
            "--leader-elect=false",
        ])
        self._daemon("kube-scheduler", [
            str(bins["kube-scheduler"]), "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
            "--bind-address", "127.0.0.1", "--leader-elect=false",
        ])

    def _relay(self) -> None:
        """127.0.0.1:<api_port> on the host -> a Unix socket in the cluster folder -> the API server."""
        sock = self.lay.api_socket
        self._daemon("relay-inside", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600",
                                      f"TCP:{NODE_IP}:{API_PORT}"])
        if not _port_free(self.api_port):  # connecting would reach the other listener: ask bind
            raise ClusterError(f"the API relay cannot listen on {LOOPBACK}:{self.api_port}: the port is "
                               "already taken; choose another or stop what holds it")
        outside = self._daemon("relay-host", [
            "socat", f"TCP-LISTEN:{self.api_port},bind={LOOPBACK},fork,reuseaddr", f"UNIX-CONNECT:{sock}",
        ], inside=False)
        deadline = time.monotonic() + 10
        while not port_open(self.api_port) or not outside.alive():
            if not outside.alive() or time.monotonic() > deadline:
                raise ClusterError(
                    f"the API relay could not listen on {LOOPBACK}:{self.api_port} (is the port already "
                    f"taken?):\n{log_tail(outside.log, 5)}")
            time.sleep(0.05)

    def _api_ready(self) -> bool:
        import ssl
        import urllib.request

        ctx = ssl.create_default_context(cafile=str(self.lay.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.lay.pki / "admin.crt"), str(self.lay.pki / "admin.key"))
        url = f"https://{LOOPBACK}:{self.api_port}/readyz"
        with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
            return bool(resp.status == 200)

    def _node(self, bins: dict[str, Path]) -> None:
        lay = self.lay
        self._daemon("kubelet", [
            str(bins["kubelet"]), "--config", str(lay.path("kubelet.yaml")),
            "--kubeconfig", str(lay.path("kubelet.kubeconfig")), "--root-dir", str(lay.kubelet_dir),
            "--hostname-override", NODE_NAME, "--node-ip", NODE_IP,
        ])
        self._daemon("kube-proxy", [str(bins["kube-proxy"]), "--config", str(lay.path("kube-proxy.yaml"))])
        self._daemon("coredns", [str(bins["coredns"]), "-conf", str(lay.path("Corefile"))])

    def _prepare(self) -> None:
        """Node Ready, a default StorageClass with its provisioner, the default ServiceAccount."""
        from kubernetes import client

        from webstack.cluster.kube import connect

        kube = connect(self.kubeconfig, self.context)
        try:
            self._wait(lambda: _node_ready(kube.core.read_node(NODE_NAME)), f"node {NODE_NAME} Ready",
                       self.procs["kubelet"])
            kube.storage.create_storage_class(client.V1StorageClass(
                metadata=client.V1ObjectMeta(
                    name=STORAGE_CLASS, annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
                provisioner="webstack.node/local", reclaim_policy="Delete",
                volume_binding_mode="Immediate"))
            self._wait(lambda: bool(kube.core.read_namespaced_service_account("default", "default")),
                       "the default ServiceAccount")
        finally:
            kube.close()
        lay = self.lay
        self._daemon("provisioner", [
            sys.executable, "-m", "webstack.cluster.node.provisioner",
            str(lay.path("admin-inside.kubeconfig")),
            str(lay.volumes), NODE_NAME, STORAGE_CLASS, str(lay.logs / "provisioner-events.log")])

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
        self._import(built)
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
        self._daemon(f"{tag}-inside", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:{ip}:{port}"])
        local = free_port()
        proc = self._daemon(f"{tag}-host", ["socat", f"TCP-LISTEN:{local},bind={LOOPBACK},fork,reuseaddr",
                                            f"UNIX-CONNECT:{sock}"], inside=False)
        self._wait(lambda: port_open(local), f"the relay to svc/{service} on {LOOPBACK}:{local}", proc, 10)
        return local

    def start_prometheus(self, monitors: list[dict[str, Any]], rules_text: str, interval: str = "1s") -> str:
        """Prometheus in the node's namespace scraping `monitors` (rendered ServiceMonitors); its URL."""
        from webstack.cluster.node import prometheus

        return prometheus.start(self, monitors, rules_text, interval=interval)

    # -- teardown -----------------------------------------------------------------------------------
    def stop(self, keep_logs_in: Path | None = None) -> None:
        """Stop everything and remove every trace; ClusterError listing anything that stayed."""
        if self.layout is None:
            return
        lay = self.lay
        if keep_logs_in is not None:
            self.copy_logs(keep_logs_in)
        ns_inode = host.netns_inode(lay.netns)
        order = ["kubelet", "provisioner", "kube-proxy", "coredns", "kube-scheduler",
                 "kube-controller-manager", "kube-apiserver", "etcd", "containerd"]
        pidfiles = sorted((lay.root / "pids").glob("*.pid")) if (lay.root / "pids").is_dir() else []
        names = order + sorted({p.stem for p in pidfiles} - set(order))  # relays and forwards last
        for name in names:
            if name in self.procs:
                host.stop_daemon(self.procs.pop(name))
            else:
                host.stop_pidfile(lay.root / "pids" / f"{name}.pid", (lay.root, lay.short))
        stuck = host.kill_all(ns_inode, lay.cgroup_root)
        left_mounts = host.unmount_under(lay.root, lay.short)
        for f in CNI_RESULTS.glob(f"{lay.cni_network}-*") if CNI_RESULTS.is_dir() else []:
            f.unlink(missing_ok=True)
        left_cgroups = host.remove_cgroups(lay.cgroup_root)
        host.delete_netns(lay.netns)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.short, ignore_errors=True)
        self.layout = None
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
        pods = self.lay.root / "pod-logs"
        if pods.is_dir():
            shutil.copytree(pods, out / "pods", dirs_exist_ok=True, symlinks=False,
                            ignore_dangling_symlinks=True)

    def diagnostics(self) -> str:
        if self.layout is None:
            return ""
        return "\n".join(f"{name} ({p.log}):\n{log_tail(p.log, 8)}" for name, p in self.procs.items())


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _node_ready(node: Any) -> bool:
    conds = getattr(getattr(node, "status", None), "conditions", None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)
