"""The toolkit on a chart written the way many public charts are: no values schema, no helm-docs.

Every command and every check runs on it without an input error, and the SARIF report it writes is
valid SARIF 2.1.0 (the schema comes from the npm registry, fetched once into the user cache).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import jsonschema
import pytest

from webstack.checks import ALL_CHECKS
from webstack.paths import cache_dir

SHOP = Path(__file__).parents[1] / "fixtures" / "shop"
SARIF_PACKAGE = "@microsoft/jest-sarif@1.0.0-beta.0"  # ships the SARIF 2.1.0 (rtm.5) JSON schema
SARIF_MEMBER = "package/lib/schemas/sarif-2.1.0-rtm.5.json"


def webstack(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", *args], capture_output=True, text=True,
                          timeout=300, check=False, cwd=cwd)


def assert_ran(res: subprocess.CompletedProcess[str]) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Traceback" not in out and "error:" not in out


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    dest = cache_dir() / "schemas" / "sarif-2.1.0-rtm.5.json"
    if not dest.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed once to fetch the SARIF schema from the npm registry", pytrace=False)
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run([npm, "pack", SARIF_PACKAGE, "--silent"], cwd=tmp, capture_output=True,
                                 text=True, timeout=300, check=False)
            if res.returncode != 0:
                pytest.fail(f"npm pack {SARIF_PACKAGE} failed: {res.stderr.strip()}", pytrace=False)
            with tarfile.open(Path(tmp) / res.stdout.strip().splitlines()[-1]) as tar:
                text = tar.extractfile(SARIF_MEMBER).read()  # type: ignore[union-attr]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text)
    return json.loads(dest.read_text())


def test_every_check_runs_on_a_chart_without_schema_or_helm_docs(tmp_path: Path) -> None:
    report = tmp_path / "check.json"
    every = [a for c in ALL_CHECKS for a in ("--check", c)]
    res = webstack("check", "--chart", str(SHOP), *every, "--previous-values", str(SHOP / "values.yaml"),
                   "--format", "json", "--output", str(report))
    assert_ran(res)
    assert f"checks {', '.join(ALL_CHECKS)}" in res.stderr  # every one ran: none dropped for lack of input
    assert json.loads(report.read_text())["count"] == 0


def test_lint_runs_every_rule_but_the_readme_ones_and_says_so(tmp_path: Path) -> None:
    res = webstack("lint", "--chart", str(SHOP), "--format", "json", "--output", str(tmp_path / "lint.json"),
                   "--fail-on", "error")
    assert_ran(res)
    assert "parts helm-lint, render, yamllint, chart-yaml:" in res.stderr
    assert "README rules skipped" in res.stderr and "does not use helm-docs" in res.stderr


def test_render_then_validate_like_kubeconform(tmp_path: Path) -> None:
    out = tmp_path / "render"
    assert_ran(webstack("render", "--chart", str(SHOP), "--output", str(out)))
    files = sorted(str(p) for p in out.rglob("*.yaml"))
    assert len(files) == 3
    assert_ran(webstack("validate", *files))


def test_the_sarif_report_is_valid_sarif_pointing_at_templates(tmp_path: Path, sarif_schema: dict) -> None:
    bad = Path(__file__).parents[1] / "fixtures" / "gate" / "bad-policy"
    report = tmp_path / "check.sarif"
    res = webstack("check", "--chart", str(bad), "--format", "sarif", "--output", str(report))
    assert res.returncode == 1, res.stderr
    doc = json.loads(report.read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    (run,) = doc["runs"]
    assert run["results"] and {r["level"] for r in run["results"]} <= {"error", "warning", "note"}
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    # helm's source names (<chart>/templates/x.yaml) become files of the working tree, under %SRCROOT%
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert any(u.startswith("tests/fixtures/gate/bad-policy/") and u.endswith(".yaml") for u in uris), uris
    assert all((Path.cwd() / u).is_file() for u in uris if not u.startswith("file:")), uris
