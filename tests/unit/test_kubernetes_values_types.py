"""Rendered values reach the schema check with the types the API server would see."""

from __future__ import annotations

from webstack.checks import kubernetes
from webstack.manifests import parse_stream

CONFIGMAP = ("---\n# Source: c/templates/cm.yaml\n"
             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n")


def test_a_date_like_plain_value_is_a_string_as_in_helm() -> None:
    assert kubernetes.check(parse_stream(CONFIGMAP + "  day: 2024-01-01\n"), "1.30", "t") == []


def test_a_yaml_11_boolean_in_configmap_data_is_refused_as_the_api_server_would() -> None:
    (finding,) = kubernetes.check(parse_stream(CONFIGMAP + "  debug: yes\n"), "1.30", "t")
    assert finding.path == "data.debug" and finding.rule == "K8S-SCHEMA"


def test_a_value_json_cannot_hold_is_a_finding_not_a_crash() -> None:
    (finding,) = kubernetes.check(parse_stream(CONFIGMAP + "  day: !!timestamp 2024-01-01\n"), "1.30", "t")
    assert "not JSON-compatible" in finding.message
