"""Property tests: values generated inside the schema always render and pass Kubernetes schema
validation; values outside it are stopped by the values check before anything renders.

Strategies are derived from each subchart's own values.schema.json for selected keys (replicas,
ports, service types, booleans, resources, image tags), so the tests follow the schemas as they change.
They run on the fixture chart and on the real chart.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webstack import checks, schema_defs
from webstack.checks import ValuesRejected, run_gate
from webstack.paths import CHART_DIR
from webstack.report import Severity
from webstack.values import Dumper, ValuesSet

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"
# derandomized: the same examples on every run, so CI is not flaky; max_examples small (a render is ~0.2 s)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    derandomize=True,
)


@dataclass(frozen=True)
class Target:
    chart: Path
    subchart: str
    keys: tuple[str, ...]

    @property
    def schema(self) -> dict[str, Any]:
        path = self.chart / "charts" / self.subchart / "values.schema.json"
        if not path.is_file():
            pytest.fail(f"{path} is missing: the property tests derive their values from it", pytrace=False)
        return json.loads(path.read_text())

    def __str__(self) -> str:
        return f"{self.chart.name}/{self.subchart}"


RESOURCES = ("resources.requests.cpu", "resources.requests.memory", "resources.limits.memory")
TARGETS = [
    Target(
        DEMO,
        "web",
        (
            "replicaCount",
            "service.port",
            "service.type",
            "pdb.enabled",
            "pdb.minAvailable",
            *RESOURCES,
            "image.tag",
        ),
    ),
    Target(
        CHART_DIR,
        "flask",
        (
            "replicaCount",
            "service.port",
            "service.type",
            "autoscaling.enabled",
            "pdb.enabled",
            *RESOURCES,
            "image.tag",
            "image.pullPolicy",
        ),
    ),
    Target(CHART_DIR, "nginx", ("replicaCount", "service.port", "service.type", "pdb.enabled", *RESOURCES)),
]


def _node(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = schema
    for part in dotted.split("."):
        node = schema_defs.resolve(schema, node["properties"][part])
    return node


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type", [])
    return {t} if isinstance(t, str) else set(t)


def inside(node: dict[str, Any]) -> st.SearchStrategy:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = _types(node)
    if types == {"boolean"}:
        return st.booleans()
    if "integer" in types and "pattern" not in node:
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31 - 1))
    if "string" in types and "pattern" in node:
        forbidden = (node.get("not") or {}).get("const")
        return st.from_regex(node["pattern"], fullmatch=True).filter(
            lambda s: s != forbidden and len(s) <= node.get("maxLength", 40)
        )
    raise AssertionError(f"no strategy for {node}")


def outside(node: dict[str, Any]) -> st.SearchStrategy:
    if "enum" in node:
        return st.text(min_size=1, max_size=8).filter(lambda s: s not in node["enum"])
    types = _types(node)
    if types == {"boolean"}:
        return st.sampled_from(["yes", 1, "true"])
    if "integer" in types and "pattern" not in node:
        options = [
            st.text(max_size=5),
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
        ]
        if "minimum" in node:
            options.append(st.integers(max_value=node["minimum"] - 1))
        if "maximum" in node:
            options.append(st.integers(min_value=node["maximum"] + 1))
        return st.one_of(options)
    if "string" in types:
        return st.one_of(st.just("bad value!"), st.just("latest") if "not" in node else st.just("Bad Value"))
    raise AssertionError(f"no strategy for {node}")


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
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


@pytest.mark.parametrize("target", TARGETS, ids=str)
@SETTINGS
@given(data=st.data())
def test_values_inside_the_schema_render_and_pass_kubernetes_schemas(target, data):
    schema = target.schema
    chosen = data.draw(st.fixed_dictionaries({k: inside(_node(schema, k)) for k in target.keys}))
    values: dict[str, Any] = {}
    for key, value in chosen.items():
        values = _deep(values, _nest([target.subchart, *key.split(".")], value))
    with tempfile.TemporaryDirectory() as tmp:
        result = run_gate(
            target.chart,
            [ValuesSet("generated", (_values_file(values, tmp),))],
            ["1.30", "1.37"],
            checks=("values", "kubernetes"),
        )
    assert [f for f in result.findings if f.severity >= Severity.WARNING] == []


@pytest.mark.parametrize("target", TARGETS, ids=str)
@SETTINGS
@given(data=st.data())
def test_values_outside_the_schema_are_stopped_before_rendering(target, data):
    schema = target.schema
    key = data.draw(st.sampled_from([*target.keys, "unknown"]))
    if key == "unknown":
        key, value = data.draw(st.sampled_from(["replicas", "service.prot", "image.tags"])), 1
    else:
        value = data.draw(outside(_node(schema, key)))
    full = f"{target.subchart}.{key}"

    def no_render(*_a, **_k):
        raise AssertionError("rendered values that break the schema")

    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        mp.setattr(checks, "render_jobs", no_render)
        with pytest.raises(ValuesRejected) as exc:
            run_gate(
                target.chart,
                [ValuesSet("bad", (_values_file(_nest(full.split("."), value), tmp),))],
                ["1.30"],
            )
    paths = {f.path for f in exc.value.findings}
    assert any(p == full or full.startswith(f"{p}.") for p in paths), (paths, full)
