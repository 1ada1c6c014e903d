"""Nothing lost: the real `webstack` CLI never overwrites what it did not write, checks every output
location before the work starts, and fails in one line (exit 2) leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

WEBSTACK = Path(sys.executable).with_name("webstack")
FIXTURES = Path(__file__).parents[1] / "fixtures"
TINY = FIXTURES / "tiny-chart"
DEMO = FIXTURES / "gate" / "demo"


def webstack(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WEBSTACK), *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=300, env={**os.environ, **(env or {})})


def refused(res: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2 with one `error:` line (no traceback) that says each of `words`."""
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for w in words:
        assert w in line
    return line


def wrote(res: subprocess.CompletedProcess[str]) -> bool:
    """The command ran and wrote its output (exit 1 only says a check found something)."""
    return res.returncode in (0, 1) and "error:" not in res.stderr


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def render(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return webstack("render", "--chart", TINY, "--output", out, *extra)


def test_render_refuses_a_folder_holding_a_user_file_and_replaces_it_with_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused(render(out), str(out), "notes.txt", "--force")
    assert tree(out) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    assert render(out, "--force").returncode == 0
    assert "notes.txt" not in tree(out) and "default" in tree(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_render_refuses_a_path_that_is_a_file(tmp_path):
    f = tmp_path / "out"
    f.write_text("mine")
    for extra in ((), ("--force",)):
        refused(render(f, *extra), str(f), "not a folder")
    assert f.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_render_replaces_its_own_earlier_output_and_leaves_no_old_copy(tmp_path):
    out = tmp_path / "out"
    assert render(out).returncode == 0
    (out / "default" / "stale.yaml").write_text("from an earlier run")
    res = render(out)
    assert res.returncode == 0, res.stderr
    assert "default/stale.yaml" not in tree(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_render_into_an_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert render(out).returncode == 0
    assert "default" in tree(out)


def test_render_where_nothing_can_be_written_is_one_line_and_leaves_nothing(tmp_path):
    refused(render(Path("/proc/x")), "/proc/x")
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    refused(render(blocker / "out"), str(blocker))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert not list(Path("/proc").glob(".x*"))


@pytest.mark.parametrize("command", ["check", "lint"])
def test_report_output_is_never_a_folder_or_a_foreign_file(tmp_path, command):
    args = (command, "--chart", DEMO, "--format", "json", "--output")
    folder = tmp_path / "dir"
    folder.mkdir()
    refused(webstack(*args, folder), str(folder), "is a folder")
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}')
    refused(webstack(*args, foreign), str(foreign), "--force")
    assert foreign.read_text() == '{"mine": true}'
    refused(webstack(*args, "/proc/x"), "/proc/x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "notes.json"]
    assert wrote(webstack(*args, foreign, "--force"))
    assert json.loads(foreign.read_text())["generator"] == "webstack"


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_report_replaces_its_own_previous_report(tmp_path, fmt):
    out = tmp_path / "report"
    for _ in range(2):
        res = webstack("check", "--chart", DEMO, "--format", fmt, "--output", out)
        assert wrote(res), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_lint_replaces_its_own_previous_report(tmp_path):
    out = tmp_path / "lint.txt"
    for _ in range(2):
        res = webstack("lint", "--chart", DEMO, "--output", out)
        assert wrote(res), res.stderr
    assert out.read_text().splitlines()[0] == "# generator: webstack"


@pytest.mark.parametrize("where", ["/proc/x", "FILE"])
def test_smoke_bad_report_dir_fails_at_once_without_a_cluster(tmp_path, where):
    scratch = tmp_path / "scratch"  # every cluster's private folder would be made here
    scratch.mkdir()
    (tmp_path / "FILE").write_text("mine")
    report_dir = where.replace("FILE", str(tmp_path / "FILE"))
    started = time.monotonic()
    res = webstack("smoke", "--provider", "kwok", "--report-dir", report_dir,
                   env={"WEBSTACK_TMP": str(scratch)})
    assert time.monotonic() - started < 5
    refused(res, report_dir)
    assert "cluster up" not in res.stdout + res.stderr
    assert list(scratch.iterdir()) == []
    assert (tmp_path / "FILE").read_text() == "mine"


def test_smoke_refuses_a_report_dir_holding_user_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = webstack("smoke", "--provider", "kwok", "--report-dir", tmp_path, env={"WEBSTACK_TMP": "/proc"})
    refused(res, str(tmp_path), "notes.txt", "--force")


def test_package_refuses_a_foreign_file_or_folder_before_any_work(tmp_path):
    foreign = tmp_path / "dist"
    foreign.write_text("mine")
    refused(webstack("package", "--chart", TINY, "--output", foreign), str(foreign), "not a folder")
    assert foreign.read_text() == "mine"
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    refused(webstack("package", "--chart", TINY, "--output", folder), str(folder), "notes.txt", "--force")
    assert tree(folder) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "repo"]
