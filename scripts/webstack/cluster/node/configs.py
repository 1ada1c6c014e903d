"""Every configuration file the node cluster's daemons read, as pure functions of the Layout.

Kept free of side effects so they can be unit-tested and read in one place: containerd's CRI
settings, the CNI network, kubelet and kube-proxy configurations, CoreDNS's Corefile, and
kubeconfigs. All addresses are inside the cluster's private network namespace, except the host
kubeconfig's server, which is the loopback relay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_IP = "10.200.0.1"  # the first node's (the control plane's) address: the same in every cluster
NODE_CIDR = f"{NODE_IP}/24"
CLUSTER_POD_CIDR = "10.244.0.0/16"  # every node's pods (node k: 10.244.(k-1).0/24); kube-proxy's clusterCIDR
FIRST_NODE = "webstack-node"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_API_IP = "10.96.0.1"  # the first Service IP: kubernetes.default
API_PORT = 6443
CLUSTER_DOMAIN = "cluster.local"
# Unix socket paths may not exceed 107 bytes, and kubelet makes sockets deep below its root dir:
# both live under this short folder, not under the cluster's folder (which sits wherever the
# temporary folder is, deep under a test's tmp_path, say).
SHORT_DIR = Path("/var/lib/webstack")


def node_name(node: int) -> str:
    return FIRST_NODE if node == 1 else f"{FIRST_NODE}-{node}"


def node_ip(node: int) -> str:
    return f"10.200.0.{node}"


def pod_cidr(node: int) -> str:
    return f"10.244.{node - 1}.0/24"


@dataclass(frozen=True)
class Layout:
    """Where one node of a cluster keeps everything: its folders, network namespace and cgroup root.

    Node 1 (the control plane's) uses the cluster's own names and folders; node k > 1 adds `-k` to
    the names and keeps its files in an `n<k>` folder below the cluster's, so teardown of the
    cluster's folders removes every node's.
    """

    name: str  # unique per cluster; names the network namespaces and cgroup roots
    root: Path
    node: int = 1

    def of_node(self, node: int) -> Layout:
        return Layout(self.name, self.root, node)

    @property
    def suffix(self) -> str:
        return "" if self.node == 1 else f"-{self.node}"

    @property
    def node_name(self) -> str:
        return node_name(self.node)

    @property
    def node_ip(self) -> str:
        return node_ip(self.node)

    @property
    def pod_cidr(self) -> str:
        return pod_cidr(self.node)

    @property
    def netns(self) -> str:
        return f"{self.name}{self.suffix}"

    @property
    def cgroup_root(self) -> str:
        return f"/{self.name}{self.suffix}"

    @property
    def node_dir(self) -> Path:
        return self.root if self.node == 1 else self.root / f"n{self.node}"

    @property
    def node_short(self) -> Path:
        return self.short if self.node == 1 else self.short / f"n{self.node}"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def short(self) -> Path:
        """The cluster's folder for what needs a short path (see SHORT_DIR)."""
        return SHORT_DIR / self.name

    @property
    def sockets(self) -> Path:
        return self.short / "sock"

    @property
    def containerd_socket(self) -> Path:
        return self.node_short / "sock" / "containerd.sock"

    @property
    def api_socket(self) -> Path:
        return self.sockets / "apiserver.sock"

    @property
    def runc_root(self) -> Path:
        return self.node_dir / "runc"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    @property
    def kubelet_dir(self) -> Path:
        return self.node_short / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.node_dir / "pod-logs"

    @property
    def cni_network(self) -> str:
        return self.netns  # CNI's result cache files are named after the network: ours are findable

    def path(self, name: str) -> Path:
        """A configuration file of this node (node 1's are the cluster's shared ones too)."""
        return self.node_dir / "etc" / name


def containerd_toml(lay: Layout, pause_ref: str) -> str:
    """containerd 1.6 (config version 2): private root/state/sockets, our pause image, our CNI."""
    state = lay.node_dir / "containerd-state"
    return f"""version = 2
root = "{lay.node_dir / 'containerd'}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{lay.containerd_socket}"

[ttrpc]
  address = "{lay.containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{lay.node_dir / 'containerd-opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_ref}"
  # A negative oom_score_adj needs CAP_SYS_RESOURCE, which this machine's bounding set lacks.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Pod network namespaces under our state folder, not the host's /run/netns: teardown finds them.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{lay.runc_root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{lay.path('cni')}"
    max_conf_num = 1
"""


def cni_conflist(lay: Layout) -> str:
    """A bridge with host-local addresses; portmap for hostPort. No masquerade: nothing leaves."""
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": lay.cni_network,
        "plugins": [
            {
                "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local", "ranges": [[{"subnet": lay.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(lay.node_dir / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, context: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": context, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }, sort_keys=False)


def kubelet_config(lay: Layout, node_name: str) -> str:
    pki = lay.pki
    return yaml.safe_dump({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": lay.node_ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / f"kubelet-serving{lay.suffix}.crt"),
        "tlsPrivateKeyFile": str(pki / f"kubelet-serving{lay.suffix}.key"),
        "containerRuntimeEndpoint": f"unix://{lay.containerd_socket}",
        # cgroup v1 hybrid here; kubelet 1.36 refuses v1 unless told, and runs pods under our root.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": lay.cgroup_root,
        "failSwapOn": False,
        "clusterDNS": [NODE_IP],  # CoreDNS runs beside the control plane on the first node
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(lay.of_node(1).path("resolv.conf")),
        "podLogsDir": str(lay.pod_logs),
        "podCIDR": lay.pod_cidr,
        "serializeImagePulls": False,
        "registerNode": True,
        "maxPods": 60,
        # A shared development disk is often fuller than kubelet's defaults allow: evict only
        # when nearly full, and never garbage-collect the locally built images (none can be pulled).
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusReportFrequency": "10s",
        # The lease is renewed every quarter of this (5s): a node lost is noticed within the
        # controller-manager's short grace period (see NodeCluster), a live one never misses it.
        "nodeLeaseDurationSeconds": 20,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "localStorageCapacityIsolation": True,
        "providerID": f"webstack://{node_name}",
    }, sort_keys=False)


def kube_proxy_config(lay: Layout, node_name: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(lay.of_node(1).path("admin-inside.kubeconfig"))},
        "mode": "iptables",
        "hostnameOverride": node_name,
        "clusterCIDR": CLUSTER_POD_CIDR,
        "bindAddress": lay.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # 0 = leave the (host-wide) conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "nodePortAddresses": [f"{lay.node_ip}/24"],
    }, sort_keys=False)


def corefile(lay: Layout) -> str:
    """Cluster DNS only: names outside cluster.local get no answer (nothing may leave the namespace)."""
    return f""".:53 {{
    bind {NODE_IP}
    errors
    ready 127.0.0.1:8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {lay.path('admin-inside.kubeconfig')}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""
