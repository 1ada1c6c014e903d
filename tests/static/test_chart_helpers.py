"""The helpers the subcharts share (names, labels, the image reference, pull Secrets) are one text in
three copies: each chart's `define` block equals the others' once the chart prefix is replaced. A
copy that drifts fails here, naming the helper and showing the diff. The umbrella's image reference
helper is the same shape too (the test pod's image follows the flask block's rules).

The umbrella names the subcharts' objects as their own helpers do, overrides included; where one
subchart's default names a sibling (a chart cannot read another's values), a rename the default
misses is refused at render, saying what to set."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from webstack import helm
from webstack.errors import HelmError
from webstack.paths import CHART_DIR
from webstack.render import RELEASE

pytestmark = pytest.mark.static

SUBCHARTS = ("flask", "mysql", "nginx")
# Helpers defined in several subcharts that are each chart's own on purpose.
OWN_ON_PURPOSE = {"validate": "each chart's render-time guards compare its own values"}
# The umbrella has no name overrides and no image of its own: it shares only these.
UMBRELLA_SHARES = ("chart", "imageRef")

ACTION = re.compile(r"\{\{-?\s*(/\*.*?\*/|.*?)\s*-?\}\}", re.DOTALL)
OPENS = re.compile(r"(define|if|range|with|block)\b")


def helpers_of(path: Path) -> dict[str, str]:
    """{name: text of its define block}, nested if/range/with blocks followed to the define's own end."""
    text = path.read_text()
    found: dict[str, str] = {}
    name, start, depth = "", 0, 0
    for action in ACTION.finditer(text):
        body = action.group(1)
        if body.startswith("/*"):
            continue
        if depth == 0:
            define = re.match(r'define\s+"([^"]+)"', body)
            if define:
                name, start, depth = define.group(1), action.start(), 1
            continue
        if OPENS.match(body):
            depth += 1
        elif re.fullmatch(r"end", body):
            depth -= 1
            if depth == 0:
                found[name] = text[start:action.end()]
    if depth:
        pytest.fail(f"{path}: define {name!r} is never closed", pytrace=False)
    return found


def by_suffix(chart: str, path: Path) -> dict[str, str]:
    """{suffix: block with the prefix written as <chart>}: flask.fullname -> fullname."""
    prefix = f"{chart}."
    blocks = helpers_of(path)
    if not blocks:
        pytest.fail(f"{path}: no define blocks found", pytrace=False)
    return {
        name.removeprefix(prefix): block.replace(f'"{prefix}', '"<chart>.')
        for name, block in blocks.items()
        if name.startswith(prefix)
    }


def subchart_helpers() -> dict[str, dict[str, str]]:
    return {c: by_suffix(c, CHART_DIR / "charts" / c / "templates" / "_helpers.tpl") for c in SUBCHARTS}


def drift(suffix: str, copies: dict[str, str]) -> str:
    """'' when every copy is the same text, else the helper's name and a diff against the first copy."""
    (first, text), *rest = copies.items()
    diffs = [
        "".join(difflib.unified_diff(text.splitlines(True), other.splitlines(True), f"{first}.{suffix}",
                                     f"{chart}.{suffix}"))
        for chart, other in rest
        if other != text
    ]
    return "" if not any(diffs) else f"helper {suffix!r} differs between the charts:\n" + "\n".join(diffs)


def test_the_parser_reads_nested_blocks_to_their_define_end(tmp_path):
    tpl = tmp_path / "_helpers.tpl"
    tpl.write_text('{{/* c */}}\n{{- define "x.a" -}}\n{{- if .x }}{{ range .y }}{{ end }}{{ else }}z'
                   '{{ end }}\n{{- end -}}\n{{- define "x.b" -}}b{{- end -}}\n')
    nested = '{{- if .x }}{{ range .y }}{{ end }}{{ else }}z{{ end }}'
    assert by_suffix("x", tpl) == {
        "a": f'{{{{- define "<chart>.a" -}}}}\n{nested}\n{{{{- end -}}}}',
        "b": '{{- define "<chart>.b" -}}b{{- end -}}',
    }
    assert drift("a", {"p": "one\n", "q": "two\n"}).startswith("helper 'a' differs")


def test_helpers_the_subcharts_share_are_identical_but_for_the_prefix():
    helpers = subchart_helpers()
    names = [set(h) for h in helpers.values()]
    shared = sorted({s for s in set().union(*names) if sum(s in n for n in names) > 1} - set(OWN_ON_PURPOSE))
    # the shape the charts are built on: a shared set that lost one of these is drift too
    expected = {"name", "fullname", "chart", "selectorLabels", "labels", "imageRef", "image",
                "imagePullSecrets"}
    missing = {c: sorted(expected - set(h)) for c, h in helpers.items() if expected - set(h)}
    assert not missing, f"subcharts lack shared helpers: {missing}"
    problems = [
        drift(s, {c: h[s] for c, h in helpers.items() if s in h}) for s in shared
    ]
    assert not any(problems), "\n".join(p for p in problems if p)


def test_the_umbrella_image_reference_has_the_subcharts_shape():
    umbrella = by_suffix("webstack", CHART_DIR / "templates" / "_helpers.tpl")
    flask = subchart_helpers()["flask"]
    problems = [drift(s, {"flask": flask[s], "webstack": umbrella.get(s, "<missing>")})
                for s in UMBRELLA_SHARES]
    assert not any(problems), "\n".join(p for p in problems if p)


def _render(*sets: str) -> list[dict]:
    out = helm.run(["template", RELEASE, str(CHART_DIR), *[a for s in sets for a in ("--set", s)]]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


RENAMES_MISSED = [
    (("mysql.fullnameOverride=db",), "set flask.database.host: db"),
    (("mysql.nameOverride=db", f"flask.database.host={RELEASE}-db"),
     f"set flask.database.existingSecret: {RELEASE}-db"),
    (("flask.nameOverride=app", f"nginx.upstream.host={RELEASE}-app"),
     'mysql.networkPolicy.allowedApps does not list it: add "app"'),
    (("nginx.nameOverride=web",), 'flask.networkPolicy.allowedApps does not list it: add "web"'),
]


@pytest.mark.parametrize(("sets", "words"), RENAMES_MISSED, ids=[s[0][0] for s in RENAMES_MISSED])
def test_a_rename_a_siblings_default_misses_is_refused(sets, words):
    with pytest.raises(HelmError, match=re.escape(words)):
        _render(*sets)


def test_the_umbrella_names_renamed_subcharts_as_they_name_themselves():
    docs = _render(
        "flask.nameOverride=app", "nginx.nameOverride=web", "mysql.nameOverride=db",
        f"nginx.upstream.host={RELEASE}-app", f"flask.database.host={RELEASE}-db",
        f"flask.database.existingSecret={RELEASE}-db", "mysql.networkPolicy.allowedApps={app}",
        "flask.networkPolicy.allowedApps={web}", "monitoring.serviceMonitor.enabled=true",
        "monitoring.rulesConfigMap.enabled=true",
    )
    services = {d["metadata"]["labels"]["helm.sh/chart"].split("-")[0]: d["metadata"]["name"]
                for d in docs if d["kind"] == "Service" and "headless" not in d["metadata"]["name"]
                and d["metadata"]["labels"].get("app.kubernetes.io/component") != "metrics"}
    assert services == {"flask": f"{RELEASE}-app", "nginx": f"{RELEASE}-web", "mysql": f"{RELEASE}-db"}
    by_kind = {d["kind"]: d for d in docs if d["kind"] in ("ServiceMonitor", "Pod")
               and d["metadata"]["labels"]["helm.sh/chart"].startswith("webstack-")}
    assert by_kind["ServiceMonitor"]["metadata"]["name"] == services["flask"]
    (env,) = by_kind["Pod"]["spec"]["containers"][0]["env"]
    assert env["value"].startswith(f"http://{services['nginx']}:")
    rules = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-alerts"))
    text = next(iter(rules["data"].values()))
    assert f'job="{services["flask"]}"' in text and f'job="{services["mysql"]}-metrics"' in text
    assert f"{RELEASE}-flask" not in text and f"{RELEASE}-mysql" not in text
