"""Prometheus on the real node: a host process in the node's network namespace, like CoreDNS.

It discovers the release's pods through Kubernetes service discovery (EndpointSlices, against the
node's API server with the admin certificate) using the scrape jobs translated from the chart's
rendered ServiceMonitors (webstack.monitoring.scrape_config), and evaluates the chart's rendered
rules file. It listens on 127.0.0.1 inside the namespace; the host reaches it through a relay
(a Unix socket in the cluster's folder), as it reaches the API server. It goes with the cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import yaml

from webstack.errors import ClusterError
from webstack.servers import LOOPBACK, free_port, log_tail, port_open

PORT = 9090  # inside the cluster's own network namespace: every cluster may use it


def start(cluster: Any, monitors: list[dict[str, Any]], rules_text: str, *, interval: str = "1s") -> str:
    """Start Prometheus for `cluster` (a started NodeCluster); returns its URL on the host."""
    from webstack import monitoring
    from webstack.cluster.node.configs import API_PORT, NODE_IP
    from webstack.toolchain import TOOLS

    binary = TOOLS["prometheus"].binary("prometheus")
    if not binary.exists():
        raise ClusterError(f"Prometheus is not built ({binary}): run `make setup`")
    lay = cluster.lay
    folder: Path = lay.root / "prometheus"
    folder.mkdir(exist_ok=True)
    pki = lay.pki
    jobs = [job for m in monitors for job in monitoring.scrape_config(
        m, api_server=f"https://{NODE_IP}:{API_PORT}", ca=pki / "ca.crt", cert=pki / "admin.crt",
        key=pki / "admin.key", interval=interval)]
    (folder / "rules.yaml").write_text(rules_text)
    (folder / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(folder / "rules.yaml")],
        "scrape_configs": jobs,
    }, sort_keys=False))
    proc = cluster.daemon("prometheus", [
        str(binary), "--config.file", str(folder / "prometheus.yml"),
        "--storage.tsdb.path", str(folder / "data"), "--storage.tsdb.retention.time", "2h",
        "--web.listen-address", f"{LOOPBACK}:{PORT}",
    ])
    sock = lay.sockets / "prometheus.sock"
    cluster.daemon("prometheus-relay-inside", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600",
                                                f"TCP:{LOOPBACK}:{PORT}"])
    local = free_port()
    cluster.daemon("prometheus-relay-host", ["socat", f"TCP-LISTEN:{local},bind={LOOPBACK},fork,reuseaddr",
                                              f"UNIX-CONNECT:{sock}"], inside=False)
    url = f"http://{LOOPBACK}:{local}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ClusterError(f"Prometheus exited at start:\n{log_tail(proc.log, 15)}")
        if port_open(local):
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    return url
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise ClusterError(f"Prometheus not ready within 60s:\n{log_tail(proc.log, 15)}")


class Client:
    """The few Prometheus HTTP API calls the lifecycle makes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, **params: str) -> Any:
        resp = requests.get(f"{self.url}{path}", params=params, timeout=5)
        body = resp.json()
        if resp.status_code != 200 or body.get("status") != "success":
            raise ClusterError(f"Prometheus {path}: HTTP {resp.status_code} {str(body)[:200]}")
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets", state="active")["activeTargets"])

    def value(self, query: str) -> float | None:
        result = self._get("/api/v1/query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None

    def alert_states(self, name: str) -> set[str]:
        return {a["state"] for a in self._get("/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") == name}
