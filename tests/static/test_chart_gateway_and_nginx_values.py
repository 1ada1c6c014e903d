"""The nginx chart's Gateway API route and its configuration knobs, as rendered by the real helm:
the HTTPRoute (and its HTTPS redirect route) from ci/httproute-values.yaml, valid against the
pinned Gateway API v1.7.0 CRD schema; Ingress and HTTPRoute on together (allowed on purpose: a
migration runs both, to the same Service); the values schema's bounds; snippets whose braces would
close the block they sit in refused at render time.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from webstack import helm
from webstack.checks import crds
from webstack.checks.kubernetes import check as kubernetes_check
from webstack.errors import HelmError
from webstack.manifests import parse_stream
from webstack.paths import CHART_DIR
from webstack.render import RELEASE
from webstack.report import Severity

pytestmark = pytest.mark.static

ROUTE_VALUES = CHART_DIR / "ci" / "httproute-values.yaml"
INGRESS_VALUES = CHART_DIR / "ci" / "ingress-tls-values.yaml"
TUNING_VALUES = CHART_DIR / "ci" / "nginx-tuning-values.yaml"


def _render(*args: str) -> list[dict[str, Any]]:
    out = helm.run(["template", RELEASE, str(CHART_DIR), *args]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_httproute_off_by_default() -> None:
    assert _of(_render(), "HTTPRoute") == {}


def test_httproute_and_https_redirect_from_the_ci_values() -> None:
    routes = _of(_render("--values", str(ROUTE_VALUES)), "HTTPRoute")
    assert set(routes) == {f"{RELEASE}-nginx", f"{RELEASE}-nginx-redirect"}
    main, redirect = routes[f"{RELEASE}-nginx"], routes[f"{RELEASE}-nginx-redirect"]
    assert main["apiVersion"] == redirect["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert main["spec"] == {
        "parentRefs": [{"name": "shared-gateway", "namespace": "gateway-system", "sectionName": "https"}],
        "hostnames": ["webstack.example.com"],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                   "backendRefs": [{"name": f"{RELEASE}-nginx", "port": 80}]}],
    }
    assert redirect["spec"] == {
        "parentRefs": [{"name": "shared-gateway", "namespace": "gateway-system", "sectionName": "http"}],
        "hostnames": ["webstack.example.com"],
        "rules": [{"filters": [{"type": "RequestRedirect",
                                "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
    }


def test_httproute_valid_against_the_gateway_api_crd_schema() -> None:
    assert crds.pinned_module_for("gateway.networking.k8s.io/v1").version == "v1.7.0"
    schemas = crds.pinned_schemas()
    if ("gateway.networking.k8s.io/v1", "HTTPRoute") not in schemas:
        pytest.fail("the Gateway API CRD schemas are not cached: run `make setup`", pytrace=False)
    out = helm.run(["template", RELEASE, str(CHART_DIR), "--values", str(ROUTE_VALUES)]).stdout
    manifests = [m for m in parse_stream(out) if m.kind == "HTTPRoute"]
    assert len(manifests) == 2
    findings = [f for v in ("1.30", "1.37") for f in kubernetes_check(manifests, v, "httproute")]
    assert [f for f in findings if f.severity != Severity.INFO] == []
    assert not [f for f in findings if f.rule == "K8S-UNKNOWN-KIND"], "validated, not skipped"
    # ... and the schema has teeth: a filter type the CRD does not know is an error
    bad = out.replace("type: RequestRedirect", "type: RequestTeleport")
    bad_findings = kubernetes_check([m for m in parse_stream(bad) if m.kind == "HTTPRoute"], "1.37", "bad")
    assert any("RequestTeleport" in f.message for f in bad_findings if f.severity == Severity.ERROR)


def test_ingress_and_httproute_together_route_to_the_same_service() -> None:
    docs = _render("--values", str(INGRESS_VALUES), "--values", str(ROUTE_VALUES))
    [ingress] = _of(docs, "Ingress").values()
    route = _of(docs, "HTTPRoute")[f"{RELEASE}-nginx"]
    ingress_backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert ingress_backend == route["spec"]["rules"][0]["backendRefs"][0]["name"] == f"{RELEASE}-nginx"


def test_nginx_options_off_by_default_and_on_from_the_ci_values() -> None:
    def conf(*args: str) -> str:
        [cm] = [d for d in _render(*args) if d["kind"] == "ConfigMap" and "nginx.conf" in d.get("data", {})]
        return cm["data"]["nginx.conf"]

    default = conf()
    for absent in ("set_real_ip_from", "limit_req", "config.httpSnippet", "config.serverSnippet"):
        assert absent not in default
    tuned = conf("--values", str(TUNING_VALUES))
    for present in ("set_real_ip_from 127.0.0.1;", "set_real_ip_from 10.0.0.0/8;",
                    "real_ip_header X-Forwarded-For;", "real_ip_recursive on;",
                    "limit_req_zone $binary_remote_addr zone=webstack_req:1m rate=50r/s;",
                    "limit_req_status 429;", "limit_req zone=webstack_req burst=100 nodelay;",
                    "client_body_timeout 20s;", "client_header_timeout 10s;", "proxy_connect_timeout 2s;",
                    "location = /robots.txt {"):
        assert present in tuned, present
    # the health location is outside the limit: limit_req only in `location /`
    health = tuned.split("location = /nginx-health")[1].split("}")[0]
    assert "limit_req" not in health


@pytest.mark.parametrize(("flags", "expect"), [
    ("nginx.upstream.connectTimeout=0s", "connectTimeout"),
    ("nginx.upstream.readTimeout=forever", "readTimeout"),
    ("nginx.config.clientBodyTimeout=-1s", "clientBodyTimeout"),
    ("nginx.config.clientHeaderTimeout=9999999s", "clientHeaderTimeout"),
    ("nginx.config.rateLimit.burst=-1", "burst"),
    ("nginx.config.rateLimit.burst=1000000", "burst"),
    ("nginx.config.rateLimit.rate=10", "rate"),
    ("nginx.config.rateLimit.status=200", "status"),
    ("nginx.config.rateLimit.zoneSize=10g", "zoneSize"),
    ("nginx.config.realIp.enabled=true", "trustedProxies"),
    ("nginx.config.realIp.enabled=true,nginx.config.realIp.trustedProxies[0]=lb.example.com",
     "trustedProxies"),
    ("nginx.config.realIp.header=X Forwarded", "header"),
    ("nginx.config.extraLocations[0].match=/x {,nginx.config.extraLocations[0].config=return 204;", "match"),
    ("nginx.httpRoute.enabled=true", "parentRefs"),
    ("nginx.httpRoute.paths[0].type=Prefix,nginx.httpRoute.paths[0].value=/", "type"),
    ("nginx.httpRoute.hostnames[0]=10.0.0.1", "hostnames"),
    ("nginx.httpRoute.httpsRedirect.statusCode=200", "statusCode"),
    ("nginx.httpRoute.enabled=true,nginx.httpRoute.parentRefs[0].name=gw,"
     "nginx.httpRoute.httpsRedirect.enabled=true", "sectionName"),
])
def test_values_schema_bounds(flags: str, expect: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.run(["template", RELEASE, str(CHART_DIR), "--set", flags])
    assert expect in str(err.value)


@pytest.mark.parametrize("key", ["httpSnippet", "serverSnippet"])
def test_a_snippet_that_would_close_its_block_is_refused(key: str) -> None:
    with pytest.raises(HelmError, match=rf"nginx: config\.{key} has 1 '{{' and 2 '}}'"):
        helm.run(["template", RELEASE, str(CHART_DIR), "--set-string", f"nginx.config.{key}=}} server {{ }}"])
    with pytest.raises(HelmError, match=r"config\.extraLocations\[0\]\.config has 0 '\{' and 1 '\}'"):
        helm.run(["template", RELEASE, str(CHART_DIR), "--set", "nginx.config.extraLocations[0].match=/a",
                  "--set-string", "nginx.config.extraLocations[0].config=return 204; }"])
