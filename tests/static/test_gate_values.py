"""The values check: every chart's schema, all errors at once, each naming file, dotted path and line;
bad values stop before anything is rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webstack import checks
from webstack.checks import ValuesRejected, values
from webstack.cli import main
from webstack.errors import InputError
from webstack.values import ValuesSet, load, merge

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_all_errors_at_once_with_file_path_and_line(tmp_path):
    bad = _write(
        tmp_path,
        "bad.yaml",
        'web:\n  replicaCount: "three"\n  service:\n    prot: 80\n'
        "    type: Headless\nglobal:\n  imageRegistri: x\n",
    )
    found = {(f.path, f.rule): f for f in values.check(DEMO, ValuesSet("bad", (bad,)))}
    assert set(found) == {
        ("web.replicaCount", "VALUES-TYPE"),
        ("web.service.prot", "VALUES-UNKNOWN-KEY"),
        ("web.service.type", "VALUES-ENUM"),
        ("global.imageRegistri", "VALUES-UNKNOWN-KEY"),
    }
    assert found[("web.replicaCount", "VALUES-TYPE")].file == f"{bad}:2"
    assert found[("web.service.prot", "VALUES-UNKNOWN-KEY")].file == f"{bad}:4"
    assert "allowed: port, type" in found[("web.service.prot", "VALUES-UNKNOWN-KEY")].message
    assert found[("global.imageRegistri", "VALUES-UNKNOWN-KEY")].file == f"{bad}:7"


def test_later_file_wins_and_is_the_one_named(tmp_path):
    first = _write(tmp_path, "first.yaml", "web:\n  replicaCount: 0\n")
    second = _write(tmp_path, "second.yaml", "# comment\n\nweb:\n  replicaCount: -1\n")
    (f,) = values.check(DEMO, ValuesSet("two", (first, second)))
    assert (f.file, f.path, f.rule) == (f"{second}:4", "web.replicaCount", "VALUES-MINIMUM")


def test_null_deletes_a_required_key_and_the_file_that_did_it_is_named(tmp_path):
    nulls = _write(tmp_path, "nulls.yaml", "web:\n  image:\n    tag: null\n")
    (f,) = values.check(DEMO, ValuesSet("nulls", (nulls,)))
    assert (f.rule, f.path, f.file) == ("VALUES-REQUIRED", "web.image", f"{nulls}:2")
    assert f.message == "web.image.tag is not set (required)"


def test_bad_subchart_default_is_blamed_on_the_subchart_values(tmp_path):
    import shutil

    chart = tmp_path / "demo"
    shutil.copytree(DEMO, chart)
    sub_values = chart / "charts" / "web" / "values.yaml"
    sub_values.write_text(sub_values.read_text().replace("replicaCount: 1", "replicaCount: 0"))
    line = sub_values.read_text().splitlines().index("replicaCount: 0") + 1
    (f,) = values.check(chart, ValuesSet("default"))
    assert (f.file, f.path, f.rule) == (f"{sub_values}:{line}", "web.replicaCount", "VALUES-MINIMUM")


def test_yaml_1_1_short_booleans_are_read_as_helm_reads_them(tmp_path):
    # found by the property test: go-yaml reads `n` as false, so helm rejects a tag PyYAML calls a string
    short = _write(tmp_path, "short.yaml", "web:\n  image:\n    tag: n\n")
    (f,) = values.check(DEMO, ValuesSet("short", (short,)))
    assert (f.path, f.rule, f.file) == ("web.image.tag", "VALUES-TYPE", f"{short}:3")
    assert (
        values.check(
            DEMO, ValuesSet("quoted", (_write(tmp_path, "q.yaml", "web:\n  image:\n    tag: 'n'\n"),))
        )
        == []
    )


def test_disabled_subchart_is_not_checked(tmp_path):
    off = _write(tmp_path, "off.yaml", "web:\n  enabled: false\n  replicaCount: many\n")
    assert values.check(DEMO, ValuesSet("off", (off,))) == []


def test_merge_follows_helm():
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]}) == {
        "a": {"c": 2, "e": 3},
        "d": [2],
    }


def test_ci_matrix_is_valid():
    assert (
        checks.check_values(DEMO, [ValuesSet("default"), ValuesSet("ha", (DEMO / "ci" / "ha-values.yaml",))])
        == []
    )


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    syn = _write(tmp_path, "syn.yaml", "web:\n  service:\n    port: 80\n   type: NodePort\n")
    with pytest.raises(InputError, match=rf"{syn}:4:\d+: YAML syntax error"):
        load(syn)


def test_top_level_list_is_rejected(tmp_path):
    with pytest.raises(InputError, match="expected a mapping"):
        load(_write(tmp_path, "list.yaml", "- a\n- b\n"))


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("web:\n  replicaCount: [1\n", "YAML syntax error"),
        ('web:\n  replicaCount: "3"\n', 'web.replicaCount: expected an integer, got the string "3"'),
        ("web:\n  replicas: 3\n", 'web.replicas: unknown key "replicas"'),
    ],
)
def test_bad_values_render_nothing(tmp_path, capsys, text, expect):
    bad = _write(tmp_path, "bad.yaml", text)
    out = tmp_path / "render"
    assert main(["render", "--chart", str(DEMO), "-f", str(bad), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert expect in err and str(bad) in err
    assert not out.exists()
    report = tmp_path / "report.json"
    assert (
        main(["check", "--chart", str(DEMO), "-f", str(bad), "--format", "json", "--output", str(report)])
        == (2 if "syntax" in expect else 1)  # a broken file is bad input; values the schema refuses, findings
    )
    if "syntax" not in expect:  # schema violations still produce a machine-readable report
        data = json.loads(report.read_text())
        assert data["findings"][0]["file"].startswith(f"{bad}:2")


def test_missing_values_file_is_exit_2(tmp_path, capsys):
    assert main(["check", "--chart", str(DEMO), "-f", str(tmp_path / "nope.yaml")]) == 2
    assert f"{tmp_path / 'nope.yaml'}: values file does not exist" in capsys.readouterr().err


def test_bad_values_stop_before_rendering(tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("rendered despite invalid values")

    monkeypatch.setattr(checks, "render_jobs", boom)
    bad = _write(tmp_path, "bad.yaml", "web:\n  service:\n    port: 70000\n")
    with pytest.raises(ValuesRejected) as exc:
        checks.run_gate(DEMO, [ValuesSet("bad", (bad,))], ["1.30"])
    assert [f.path for f in exc.value.findings] == ["web.service.port"]


def test_invalid_schema_json_names_the_schema(tmp_path):
    import shutil

    chart = tmp_path / "demo"
    shutil.copytree(DEMO, chart)
    (chart / "values.schema.json").write_text('{"type": "object",\n "properties": }\n')
    with pytest.raises(InputError, match=r"values.schema.json:2:\d+: invalid JSON"):
        values.check(chart, ValuesSet("default"))
