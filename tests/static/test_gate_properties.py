"""Property tests: values generated inside the schema always render and pass Kubernetes schema
validation; values outside it are stopped by the values check before anything renders.

Strategies are derived from the subchart's own values.schema.json for selected keys, so the test
follows the schema as it changes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webstack import checks
from webstack.checks import ValuesRejected, run_gate
from webstack.report import Severity
from webstack.values import Dumper, ValuesSet

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"
SUBCHART = "web"
KEYS = (
    "replicaCount",
    "service.port",
    "service.type",
    "pdb.enabled",
    "pdb.minAvailable",
    "resources.requests.cpu",
    "resources.requests.memory",
    "resources.limits.memory",
    "image.tag",
)
SCHEMA = json.loads((DEMO / "charts" / SUBCHART / "values.schema.json").read_text())
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _node(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = schema
    for part in dotted.split("."):
        node = node["properties"][part]
        if "$ref" in node:
            node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def inside(node: dict[str, Any]) -> st.SearchStrategy:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if node.get("type") == "boolean":
        return st.booleans()
    if node.get("type") == "integer":
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31))
    if node.get("type") == "string" and "pattern" in node:
        forbidden = (node.get("not") or {}).get("const")
        return st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: s != forbidden and len(s) < 40)
    raise AssertionError(f"no strategy for {node}")


def outside(node: dict[str, Any]) -> st.SearchStrategy:
    if "enum" in node:
        return st.text(min_size=1, max_size=8).filter(lambda s: s not in node["enum"])
    if node.get("type") == "boolean":
        return st.sampled_from(["yes", 1, "true"])
    if node.get("type") == "integer":
        options = [
            st.text(max_size=5),
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
        ]
        if "minimum" in node:
            options.append(st.integers(max_value=node["minimum"] - 1))
        if "maximum" in node:
            options.append(st.integers(min_value=node["maximum"] + 1))
        return st.one_of(options)
    if node.get("type") == "string":
        return st.one_of(st.integers(), st.just("latest" if "not" in node else "bad value!"))
    raise AssertionError(f"no strategy for {node}")


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = value
    for part in reversed([SUBCHART, *dotted.split(".")]):
        out = {part: out}
    return out


def _deep(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _values_file(values: dict[str, Any], tmp: str) -> Path:
    path = Path(tmp) / "values.yaml"
    path.write_text(yaml.dump(values, Dumper=Dumper))  # quotes y/n as a user must for helm
    return path


@SETTINGS
@given(st.fixed_dictionaries({k: inside(_node(SCHEMA, k)) for k in KEYS}))
def test_values_inside_the_schema_render_and_pass_kubernetes_schemas(chosen):
    values: dict[str, Any] = {}
    for key, value in chosen.items():
        values = _deep(values, _nest(key, value))
    with tempfile.TemporaryDirectory() as tmp:
        result = run_gate(
            DEMO,
            [ValuesSet("generated", (_values_file(values, tmp),))],
            ["1.30", "1.37"],
            checks=("values", "kubernetes"),
        )
    assert [f for f in result.findings if f.severity >= Severity.WARNING] == []
    deployment = next(m for m in result.renders["generated"].manifests if m.kind == "Deployment")
    assert deployment.doc["spec"]["replicas"] == chosen["replicaCount"]


@st.composite
def one_bad_key(draw) -> tuple[str, Any]:
    key = draw(st.sampled_from([*KEYS, "unknown"]))
    if key == "unknown":
        return draw(st.sampled_from(["replicas", "service.prot", "image.tags"])), 1
    return key, draw(outside(_node(SCHEMA, key)))


@SETTINGS
@given(one_bad_key())
def test_values_outside_the_schema_are_stopped_before_rendering(bad):
    key, value = bad

    def no_render(*_a, **_k):
        raise AssertionError("rendered values that break the schema")

    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        mp.setattr(checks, "render_jobs", no_render)
        with pytest.raises(ValuesRejected) as exc:
            run_gate(DEMO, [ValuesSet("bad", (_values_file(_nest(key, value), tmp),))], ["1.30"])
    paths = {f.path for f in exc.value.findings}
    assert any(p == f"{SUBCHART}.{key}" or f"{SUBCHART}.{key}".startswith(p) for p in paths), (paths, key)
