"""A rendered ServiceMonitor becomes the scrape job the Prometheus Operator would generate."""

from __future__ import annotations

from pathlib import Path

from webstack import monitoring

MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
    "metadata": {"name": "rel-flask"},
    "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "flask",
                                          "app.kubernetes.io/instance": "rel"}},
             "namespaceSelector": {"matchNames": ["mon"]},
             "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]},
}


def test_service_monitor_translates_to_endpointslice_discovery() -> None:
    (job,) = monitoring.scrape_config(MONITOR, api_server="https://10.0.0.1:6443", ca=Path("ca"),
                                      cert=Path("c"), key=Path("k"))
    assert job["job_name"] == "serviceMonitor/mon/rel-flask/0"
    assert job["metrics_path"] == "/metrics" and job["scrape_interval"] == "30s"
    assert job["scrape_timeout"] == "10s"
    sd = job["kubernetes_sd_configs"][0]
    assert sd["role"] == "endpointslice" and sd["namespaces"] == {"names": ["mon"]}
    assert sd["api_server"] == "https://10.0.0.1:6443" and sd["tls_config"]["cert_file"] == "c"
    keeps = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert {"source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name",
                              "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"],
            "regex": "(flask);true", "action": "keep"} in keeps
    assert {"source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": "http",
            "action": "keep"} in keeps
    job_label = [r for r in job["relabel_configs"] if r.get("target_label") == "job"]
    assert job_label == [{"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"}]


def test_interval_override_drops_the_longer_timeout() -> None:
    (job,) = monitoring.scrape_config(MONITOR, api_server="x", ca=Path("a"), cert=Path("b"), key=Path("c"),
                                      interval="1s")
    assert job["scrape_interval"] == "1s" and "scrape_timeout" not in job
