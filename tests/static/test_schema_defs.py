"""The values schemas' shared shapes (resources, security contexts, image blocks, probes, ...) are
written once, in scripts/webstack/data/schema_defs.yaml, and copied under `definitions` into each chart's
values.schema.json by `webstack docs --write`: every copy is fresh, every shape is used, no shape is
written out twice, a hand edit of a copy is caught by `webstack docs` and `webstack lint`, and a bad value
under a `$ref` is refused by Helm 4, Helm 3 and our own check alike, which name the dotted values path.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helm3 import Runner, runner
from webstack import docs, helm, schema_defs
from webstack.checks import values as values_check
from webstack.checks.chart_rules import readme_findings
from webstack.cli import main
from webstack.errors import HelmError
from webstack.paths import CHART_DIR
from webstack.render import RELEASE
from webstack.values import ValuesSet

pytestmark = pytest.mark.static

FLASK_SCHEMA = Path("charts") / "flask" / schema_defs.SCHEMA


def _schemas(root: Path = CHART_DIR) -> dict[Path, dict[str, Any]]:
    found = {c / schema_defs.SCHEMA: json.loads((c / schema_defs.SCHEMA).read_text())
             for c in docs.chart_dirs(root) if (c / schema_defs.SCHEMA).is_file()}
    if len(found) < 4:
        pytest.fail(f"expected the umbrella's and three subcharts' schemas, found {sorted(found)}",
                    pytrace=False)
    return found


def test_every_schema_carries_fresh_definitions() -> None:
    assert docs.stale_schemas(CHART_DIR) == [], "run `make docs`"


def test_every_shape_is_used_by_some_schema() -> None:
    used = {name for schema in _schemas().values() for name in schema.get(schema_defs.KEY, {})}
    assert set(schema_defs.shapes()) - used == set(), "shapes no schema names: delete them"


def _subschemas(node: Any) -> list[str]:
    """Every subschema reached through properties/items/additionalProperties/propertyNames, as JSON;
    if/then/not/allOf are left out (the checks read those in place)."""
    out: list[str] = []
    if not isinstance(node, dict):
        return out
    children = [*(node.get("properties") or {}).values(), *(node.get("patternProperties") or {}).values(),
                *[node[k] for k in ("items", "additionalProperties", "propertyNames") if k in node]]
    for child in children:
        if isinstance(child, dict) and "$ref" not in child:
            out.append(json.dumps(child, sort_keys=True))
            out += _subschemas(child)
    return out


def test_no_shape_is_written_out_twice() -> None:
    """A map or a constrained value repeated by hand (outside the definitions) is a shape to share."""
    written = [s for schema in _schemas().values() for s in _subschemas(
        {k: v for k, v in schema.items() if k != schema_defs.KEY})]
    written += [s for shape in schema_defs.shapes().values() for s in [json.dumps(shape, sort_keys=True),
                                                                      *_subschemas(shape)]]
    assert len(written) > 200, "the walk found the schemas' properties"
    repeated = {s: n for s, n in Counter(written).items() if n > 1 and len(s) >= 60}
    assert not repeated, "shapes written out more than once (define them in schema_defs.yaml):\n" + "\n".join(
        f"{n}x {s[:160]}" for s, n in repeated.items())


def test_the_refs_point_at_the_shapes() -> None:
    flask = _schemas()[CHART_DIR / FLASK_SCHEMA]
    resources = flask["properties"]["resources"]
    assert resources == {"$ref": "#/definitions/resources"}
    assert schema_defs.resolve(flask, resources) == schema_defs.shapes()["resources"]


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, copy)
    return copy


def test_a_hand_edit_of_a_copied_shape_is_caught_and_rewritten(tmp_path: Path, capsys) -> None:
    copy = _copy(tmp_path)
    path = copy / FLASK_SCHEMA
    schema = json.loads(path.read_text())
    schema[schema_defs.KEY]["quantity"]["minimum"] = 1  # edited in the copy instead of the source
    path.write_text(json.dumps(schema, indent=2) + "\n")
    assert docs.stale_schemas(copy) == [path]
    path.write_text(json.dumps({k: v for k, v in schema.items() if k != "$comment"}, indent=2) + "\n")
    assert docs.stale_schemas(copy) == [path], "the generated mark removed by hand is caught too"
    assert main(["docs", "--chart", str(copy)]) == 1
    said = capsys.readouterr().out
    assert f"{path}: definitions differ from scripts/webstack/data/schema_defs.yaml" in said
    (finding,) = readme_findings(copy)
    assert (finding.file, finding.rule) == (str(path), "SCHEMA-DEFINITIONS-STALE")
    assert docs.write(copy) == [path]
    assert docs.stale_schemas(copy) == [] and path.read_text() == (CHART_DIR / FLASK_SCHEMA).read_text()


def test_a_ref_to_no_shape_is_a_one_line_input_error(tmp_path: Path, capsys) -> None:
    copy = _copy(tmp_path)
    path = copy / FLASK_SCHEMA
    schema = json.loads(path.read_text())
    schema["properties"]["resources"] = {"$ref": "#/definitions/nope"}
    path.write_text(json.dumps(schema, indent=2) + "\n")
    assert main(["docs", "--chart", str(copy), "--write"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: ") and "names no shape in schema_defs.yaml" in err, err
    assert "\n" not in err


def test_definitions_of_a_schemas_own_are_left_alone(tmp_path: Path) -> None:
    """Another chart's way (its own `definitions`, no generated mark) is not ours to rewrite."""
    own = {"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
           "properties": {"size": {"$ref": "#/definitions/size"}},
           "definitions": {"size": {"type": "integer"}}}
    (tmp_path / schema_defs.SCHEMA).write_text(json.dumps(own))
    assert schema_defs.generate([tmp_path]) == {}
    own["properties"]["size"] = {"$ref": "#/definitions/quantity"}
    own.pop("definitions")
    (tmp_path / schema_defs.SCHEMA).write_text(json.dumps(own))
    (text,) = schema_defs.generate([tmp_path]).values()
    assert json.loads(text)["$comment"] == schema_defs.MARKER
    assert json.loads(text)["definitions"] == {"quantity": schema_defs.shapes()["quantity"]}


# --- a bad value under a $ref: refused by both helms and by our check --------------------------------------

BAD = [
    ("flask:\n  resources:\n    requests:\n      cpu: lots\n", "flask.resources.requests.cpu",
     "/resources/requests/cpu"),
    ("nginx:\n  securityContext:\n    runAsNonRoot: false\n", "nginx.securityContext.runAsNonRoot",
     "/securityContext/runAsNonRoot"),
    ("mysql:\n  image:\n    pullSecrets: [Bad_Name]\n", "mysql.image.pullSecrets[0]", "/image/pullSecrets/0"),
    ("monitoring:\n  alerts:\n    rateWindow: 5min\n", "monitoring.alerts.rateWindow",
     "/monitoring/alerts/rateWindow"),
]


@pytest.fixture(scope="module")
def helm3(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return runner(tmp_path_factory.mktemp("helm3-home"))


def _through_a_ref(dotted: str) -> bool:
    """Whether the schema walk to `dotted` passes a $ref (so the case tests the shared shapes)."""
    chart, *parts = dotted.replace("[0]", ".items").split(".")
    if chart == "monitoring":
        schema, parts = json.loads((CHART_DIR / schema_defs.SCHEMA).read_text()), [chart, *parts]
    else:
        schema = json.loads((CHART_DIR / "charts" / chart / schema_defs.SCHEMA).read_text())
    node, passed = schema, False
    for part in parts:
        node = node["items"] if part == "items" else node["properties"][part]
        passed |= "$ref" in node
        node = schema_defs.resolve(schema, node)
    return passed


@pytest.mark.parametrize(("text", "dotted", "pointer"), BAD, ids=[b[1] for b in BAD])
def test_a_bad_value_under_a_ref_is_refused_everywhere(tmp_path: Path, helm3: Runner, text: str, dotted: str,
                                                       pointer: str) -> None:
    assert _through_a_ref(dotted)
    values = tmp_path / "bad.yaml"
    values.write_text(text)
    with pytest.raises(HelmError, match=f"at '{pointer}'"):
        helm.run(["template", RELEASE, str(CHART_DIR), "-f", str(values)])
    res = helm3("template", RELEASE, str(CHART_DIR), "-f", str(values))
    assert res.returncode != 0 and f"at '{pointer}'" in res.stderr, res.stderr
    found = values_check.check(CHART_DIR, ValuesSet("bad", (values,)))
    assert [f.path for f in found] == [dotted], found
    assert found[0].file == f"{values}:{text.count(chr(10))}"
