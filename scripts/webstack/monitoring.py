"""The chart's monitoring objects as Prometheus sees them, without the operator.

`render()` runs `helm template` with monitoring on and returns the alert rules (the PrometheusRule's
groups and the rules-file ConfigMap, which must be the same), the ServiceMonitors and the Grafana
dashboard. `scrape_config()` translates a ServiceMonitor into the scrape job the Prometheus Operator
would generate (Kubernetes service discovery on EndpointSlices, job = the Service's name), so a
plain Prometheus — the real node's — scrapes exactly what the chart declares. `metric_names()`
lists the series a PromQL expression reads (for the dashboard and rules checks).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

RULES_KEY = "webstack-alerts.yaml"
DASHBOARD_KEY = "webstack-dashboard.json"
# Series the rules and the dashboard read that are not the app's own: they come from exporters or
# kube-state-metrics/kubelet, none of which runs here (their Go modules are not served, or they are
# cluster add-ons), so they are named here explicitly and checked against nothing else.
KNOWN_EXPORTER_METRICS: dict[str, str] = {
    "mysql_up": "mysqld-exporter",
    "mysql_global_status_threads_connected": "mysqld-exporter",
    "mysql_global_status_queries": "mysqld-exporter",
    "nginx_connections_active": "nginx-prometheus-exporter",
    "nginx_http_requests_total": "nginx-prometheus-exporter",
    "kube_deployment_spec_replicas": "kube-state-metrics",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_job_failed": "kube-state-metrics",
    "kube_cronjob_status_last_successful_time": "kube-state-metrics",
    "kube_cronjob_created": "kube-state-metrics",
    "kubelet_volume_stats_used_bytes": "kubelet",
    "kubelet_volume_stats_capacity_bytes": "kubelet",
}
MONITORING_ON = {"monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                                "rulesConfigMap": {"enabled": True}, "dashboard": {"enabled": True}}}


@dataclass
class Monitoring:
    rule_groups: list[dict[str, Any]]  # the PrometheusRule's spec.groups
    rules_file: str  # the ConfigMap's plain rules file
    service_monitors: list[dict[str, Any]]
    dashboard: dict[str, Any] | None


def render(chart: Path, *, release: str, namespace: str, values: dict[str, Any] | None = None,
           values_files: tuple[Path, ...] = ()) -> Monitoring:
    """`helm template` the chart with monitoring on (plus `values`) and pick out its monitoring objects."""
    import tempfile

    from webstack import helm
    from webstack.values import merge

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(merge(MONITORING_ON, values or {}), f)
        f.flush()
        out = helm.template(helm.Template(chart, release, namespace, (*values_files, Path(f.name)))).stdout
    docs = [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]
    return from_manifests(docs)


def from_manifests(docs: list[dict[str, Any]]) -> Monitoring:
    groups: list[dict[str, Any]] = []
    rules_file, dashboard = "", None
    monitors = []
    for d in docs:
        kind, data = d.get("kind"), d.get("data") or {}
        if kind == "PrometheusRule":
            groups += d["spec"]["groups"]
        elif kind == "ServiceMonitor":
            monitors.append(d)
        elif kind == "ConfigMap" and RULES_KEY in data:
            rules_file = data[RULES_KEY]
        elif kind == "ConfigMap" and DASHBOARD_KEY in data:
            dashboard = json.loads(data[DASHBOARD_KEY])
    return Monitoring(groups, rules_file, monitors, dashboard)


def scrape_config(monitor: dict[str, Any], *, api_server: str, ca: Path, cert: Path, key: Path,
                  interval: str | None = None) -> list[dict[str, Any]]:
    """The scrape jobs the Prometheus Operator generates for a ServiceMonitor (one per endpoint)."""
    spec, meta = monitor["spec"], monitor["metadata"]
    namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [meta.get("namespace")]
    tls = {"ca_file": str(ca), "cert_file": str(cert), "key_file": str(key)}
    jobs = []
    for i, ep in enumerate(spec.get("endpoints") or []):
        keep = [
            {"source_labels": [f"__meta_kubernetes_service_label_{_label(k)}",
                               f"__meta_kubernetes_service_labelpresent_{_label(k)}"],
             "regex": f"({re.escape(str(v))});true", "action": "keep"}
            for k, v in sorted((spec.get("selector") or {}).get("matchLabels", {}).items())
        ]
        port = {"source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": ep["port"],
                "action": "keep"} if "port" in ep else {
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": str(ep["targetPort"]), "action": "keep"}
        relabel = [*keep, port,
                   # what the operator drops: pods that finished
                   {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)",
                    "action": "drop"},
                   {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                   {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
                   {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                   {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
                   {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"},
                   {"target_label": "endpoint", "replacement": str(ep.get("port", ep.get("targetPort")))}]
        job: dict[str, Any] = {
            "job_name": f"serviceMonitor/{meta.get('namespace') or namespaces[0]}/{meta['name']}/{i}",
            "metrics_path": ep.get("path", "/metrics"),
            "scheme": ep.get("scheme", "http"),
            "scrape_interval": interval or ep.get("interval", "30s"),
            "kubernetes_sd_configs": [{"role": "endpointslice", "api_server": api_server,
                                       "tls_config": tls, "namespaces": {"names": namespaces}}],
            "relabel_configs": relabel,
        }
        if ep.get("scrapeTimeout") and not interval:
            job["scrape_timeout"] = ep["scrapeTimeout"]
        jobs.append(job)
    return jobs


def _label(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


_FUNCS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "time",
    "absent", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "label_values", "topk", "bottomk", "clamp_min", "clamp_max", "delta", "deriv", "offset", "bool",
    "le", "vector", "scalar",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (identifiers not followed by '(' and not keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings out
    text = re.sub(r"\{[^}]*\}", "{}", text)  # matchers out
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges out
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name in _FUNCS or re.fullmatch(r"[0-9.e]+", name):
            continue
        names.add(name)
    return names


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard.get("panels", []) for t in p.get("targets", []) if t.get("expr")]
    for var in (dashboard.get("templating") or {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict) and q.get("query"):
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", q["query"]))
    return exprs


def rule_exprs(groups: list[dict[str, Any]]) -> dict[str, str]:
    return {r.get("alert") or r.get("record"): r["expr"] for g in groups for r in g["rules"]}


def histogram_base(name: str) -> str:
    """webstack_x_bucket/_sum/_count -> webstack_x (how a scrape's families are named)."""
    return re.sub(r"_(bucket|sum|count)$", "", name)
