"""Kubernetes schema validation: offline strict schemas per version, validators cached and reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack.checks import kubernetes
from webstack.cli import main
from webstack.errors import InputError
from webstack.manifests import Manifest
from webstack.report import Severity

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"


def _m(doc: dict) -> Manifest:
    return Manifest("c/templates/x.yaml", doc)


def _deployment(**container_extra) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "x:1", **container_extra}]},
            },
        },
    }


@pytest.mark.parametrize(("given", "expected"), [("1.30", "1.30"), ("v1.33.2", "1.33"), ("1.37.0", "1.37")])
def test_versions_normalize(given, expected):
    assert kubernetes.normalize_version(given) == expected


@pytest.mark.parametrize("bad", ["1.12", "1.99", "latest", "1"])
def test_unknown_version_lists_the_available_ones(bad):
    with pytest.raises(InputError, match=r"available: .*1\.30.*1\.37"):
        kubernetes.normalize_version(bad)


def test_unknown_version_on_the_cli_is_exit_2(capsys):
    assert main(["check", "--chart", str(DEMO), "--kube-version", "1.30", "1.12"]) == 2
    assert "--kube-version '1.12'" in capsys.readouterr().err


def test_defaults_are_oldest_supported_and_latest():
    assert kubernetes.default_versions() == ["1.30", kubernetes.available_versions()[-1]]
    assert kubernetes.available_versions()[-1] == "1.37"


def test_validators_are_built_once_and_reused():
    a = kubernetes.validator("1.30", "apps/v1", "Deployment")
    assert a is kubernetes.validator("1.30", "apps/v1", "Deployment")
    assert a is not kubernetes.validator("1.37", "apps/v1", "Deployment")


def test_valid_object_passes_on_both_versions():
    for v in ("1.30", "1.37"):
        assert kubernetes.check([_m(_deployment())], v, "t") == []


def test_strict_unknown_field_and_wrong_type():
    found = kubernetes.check(
        [_m(_deployment(imagePullPolize="Always", ports=[{"containerPort": "80"}]))], "1.30", "t"
    )
    assert {(f.path, f.rule) for f in found} == {
        ("spec.template.spec.containers[0]", "K8S-SCHEMA"),
        ("spec.template.spec.containers[0].ports[0].containerPort", "K8S-SCHEMA"),
    }
    assert any("imagePullPolize" in f.message for f in found)
    assert all(f.severity == Severity.ERROR and f.context == "t k8s 1.30" for f in found)


def test_custom_resource_without_a_known_crd_is_info_not_a_crash():
    (f,) = kubernetes.check(
        [_m({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "s"}})],
        "1.37",
        "t",
    )
    assert (f.rule, f.severity) == ("K8S-UNKNOWN-KIND", Severity.INFO)


def test_removed_builtin_api_is_an_error():
    (f,) = kubernetes.check(
        [
            _m(
                {
                    "apiVersion": "policy/v1beta1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": "p"},
                    "spec": {},
                }
            )
        ],
        "1.30",
        "t",
    )
    assert (f.rule, f.severity) == ("K8S-API-UNAVAILABLE", Severity.ERROR)
