"""The chart's NetworkPolicies as rendered: each selects the right pods, admits the right peers on the
right ports, and is not rendered when switched off. (That a cluster enforces them is proven on the
real node: tests/node/test_node_network_policy.py.)"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from webstack import helm
from webstack.checks import policy
from webstack.manifests import Manifest
from webstack.paths import CHART_DIR
from webstack.render import RELEASE

pytestmark = pytest.mark.static

INSTANCE = {"app.kubernetes.io/instance": RELEASE}


def render(*sets: str) -> dict[str, dict[str, Any]]:
    """kind/name -> object of one render of the umbrella chart with `--set` pairs."""
    args = ["template", RELEASE, str(CHART_DIR)]
    for s in sets:
        args += ["--set", s]
    docs = [d for d in yaml.safe_load_all(helm.run(args).stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def policies(objs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k.split("/", 1)[1]: v["spec"] for k, v in objs.items() if k.startswith("NetworkPolicy/")}


def pod_labels(objs: dict[str, dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    return dict(objs[f"{kind}/{name}"]["spec"]["template"]["metadata"]["labels"])


def selects(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in spec["podSelector"]["matchLabels"].items())


def named_ports(objs: dict[str, dict[str, Any]], kind: str, name: str) -> set[str]:
    containers = objs[f"{kind}/{name}"]["spec"]["template"]["spec"]["containers"]
    return {p["name"] for c in containers for p in c.get("ports", [])}


@pytest.fixture(scope="module")
def default() -> dict[str, dict[str, Any]]:
    return render()


def test_every_component_has_its_policy_by_default(default: dict[str, dict[str, Any]]) -> None:
    assert set(policies(default)) == {f"{RELEASE}-{c}" for c in ("flask", "nginx", "mysql")}


def test_flask_policy_selects_the_web_pods_only(default: dict[str, dict[str, Any]]) -> None:
    spec = policies(default)[f"{RELEASE}-flask"]
    assert selects(spec, pod_labels(default, "Deployment", f"{RELEASE}-flask"))
    migrate = default[f"Job/{RELEASE}-flask-migrate"]["spec"]["template"]["metadata"]["labels"]
    assert not selects(spec, migrate), "the migration Job takes no connections; its egress stays open"
    assert not selects(spec, pod_labels(default, "Deployment", f"{RELEASE}-nginx"))
    assert spec["policyTypes"] == ["Ingress"]


def test_flask_admits_nginx_of_the_release_on_http_only(default: dict[str, dict[str, Any]]) -> None:
    spec = policies(default)[f"{RELEASE}-flask"]
    [rule] = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert "http" in named_ports(default, "Deployment", f"{RELEASE}-flask")
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nginx", **INSTANCE}}}]
    assert all(selects({"podSelector": p}, pod_labels(default, "Deployment", f"{RELEASE}-nginx"))
               for p in [rule["from"][0]["podSelector"]])


def test_flask_extra_peers_are_added(default: dict[str, dict[str, Any]]) -> None:
    objs = render("flask.networkPolicy.extraFrom[0].namespaceSelector.matchLabels.name=monitoring")
    [rule] = policies(objs)[f"{RELEASE}-flask"]["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}} in rule["from"]
    assert len(rule["from"]) == 2


def test_flask_with_no_peer_admits_nobody_rather_than_everyone() -> None:
    spec = policies(render("nginx.enabled=false", "flask.networkPolicy.allowedApps=null"))[f"{RELEASE}-flask"]
    assert spec["ingress"] == [], "an ingress rule without `from` would admit every source"


def test_nginx_policy_opens_the_http_port_to_anyone_by_default(default: dict[str, dict[str, Any]]) -> None:
    spec = policies(default)[f"{RELEASE}-nginx"]
    assert selects(spec, pod_labels(default, "Deployment", f"{RELEASE}-nginx"))
    assert not selects(spec, pod_labels(default, "Deployment", f"{RELEASE}-flask"))
    assert spec["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert {"http", "status"} <= named_ports(default, "Deployment", f"{RELEASE}-nginx"), (
        "stub_status is a second port the policy keeps closed to other pods")


def test_nginx_sources_are_configurable() -> None:
    objs = render("nginx.networkPolicy.from[0].namespaceSelector.matchLabels.name=ingress")
    [rule] = policies(objs)[f"{RELEASE}-nginx"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]


def test_nginx_stub_status_opens_only_to_status_from() -> None:
    objs = render("nginx.networkPolicy.statusFrom[0].ipBlock.cidr=10.0.0.1/32")
    rules = policies(objs)[f"{RELEASE}-nginx"]["ingress"]
    assert rules[1] == {"ports": [{"port": "status", "protocol": "TCP"}],
                        "from": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}


def test_mysql_admits_the_app_and_backup_jobs(default: dict[str, dict[str, Any]]) -> None:
    objs = render("mysql.backup.enabled=true")
    spec = policies(objs)[f"{RELEASE}-mysql"]
    assert selects(spec, objs[f"StatefulSet/{RELEASE}-mysql"]["spec"]["template"]["metadata"]["labels"])
    [rule] = spec["ingress"]
    backup = objs[f"CronJob/{RELEASE}-mysql-backup"]["spec"]["jobTemplate"]["spec"]["template"]
    admitted = [p["podSelector"] for p in rule["from"]]
    for labels in (pod_labels(objs, "Deployment", f"{RELEASE}-flask"), backup["metadata"]["labels"]):
        assert any(selects({"podSelector": p}, labels) for p in admitted), labels
    assert not any(selects({"podSelector": p}, pod_labels(objs, "Deployment", f"{RELEASE}-nginx"))
                   for p in admitted), "nginx must not reach MySQL"


@pytest.mark.parametrize("component", ["flask", "nginx", "mysql"])
def test_disabled_is_not_rendered(component: str) -> None:
    objs = render(f"{component}.networkPolicy.enabled=false")
    assert f"{RELEASE}-{component}" not in policies(objs)
    assert len(policies(objs)) == 2


def test_schema_refuses_a_typo() -> None:
    res = helm.run(["template", RELEASE, str(CHART_DIR), "--set", "flask.networkPolicy.enable=false"],
                   check=False)
    assert res.returncode != 0 and "enable" in res.stderr


BLOCK = {"ipBlock": {"cidr": "10.0.0.1/32"}}


@pytest.mark.parametrize(
    ("component", "values_path", "ports"),
    [("flask", "flask.networkPolicy.extraFrom", ["http"]),
     ("mysql", "mysql.networkPolicy.extraFrom", ["mysql"]),
     ("nginx", "nginx.networkPolicy.from", ["http"])],
)
def test_ipblock_peers_get_a_rule_of_their_own(component: str, values_path: str, ports: list[str]) -> None:
    """Rules are OR'ed, so the split admits the same peers; mixed with selectors on a named port,
    kube-router (k3s's enforcer) stops syncing after a restart (policy rule NETPOL-MIXED-PEERS)."""
    objs = render(f"{values_path}[0].ipBlock.cidr=10.0.0.1/32",
                  f"{values_path}[1].namespaceSelector.matchLabels.name=monitoring")
    rules = [r for r in policies(objs)[f"{RELEASE}-{component}"]["ingress"]
             if [p["port"] for p in r["ports"]] == ports]
    assert len(rules) == 2
    selectors, blocks = rules
    assert blocks["from"] == [BLOCK]
    assert {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}} in selectors["from"]
    assert not any("ipBlock" in p for p in selectors["from"])
    manifests = [Manifest("t", d) for d in objs.values()]
    assert [f for f in policy.check(manifests, "t") if f.rule == "NETPOL-MIXED-PEERS"] == []
