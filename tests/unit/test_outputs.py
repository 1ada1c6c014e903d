"""webstack.outputs: what may be replaced, what is refused, and that a failure leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webstack import outputs, report
from webstack.errors import InputError

STEPS = [report.Step("install", "passed", 1.0)]
FINDINGS = [report.Finding("f.yaml", "ConfigMap/x", "data", "RULE", "wrong")]


def _one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("text", [
    report.findings_json(FINDINGS),
    report.findings_junit(FINDINGS, "check", ["policy"]),
    report.steps_json(STEPS),
    report.steps_junit(STEPS, "webstack.smoke"),
    f"{outputs.TEXT_MARK}\nno findings\n",
], ids=["findings-json", "findings-junit", "steps-json", "steps-junit", "text"])
def test_every_report_format_carries_the_generator_mark(tmp_path, text):
    path = tmp_path / "report"
    path.write_text(text)
    assert outputs.is_ours(path)
    outputs.check_file(path, force=False)  # so a later run may replace it


@pytest.mark.parametrize("text", ['{"findings": []}', "<testsuites/>", "notes\n", "", "\0\xff binary"])
def test_other_files_are_not_ours(tmp_path, text):
    path = tmp_path / "notes"
    path.write_text(text)
    assert not outputs.is_ours(path)
    with pytest.raises(InputError) as exc:
        outputs.check_file(path, force=False)
    assert "webstack did not write it" in _one_line(exc) and "--force" in str(exc.value)
    outputs.check_file(path, force=True)


def test_check_file_refuses_a_folder_and_special_files_even_with_force(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        outputs.check_file(tmp_path, force=True)
    with pytest.raises(InputError, match="not a regular file"):
        outputs.check_file(Path("/dev/null"), force=True)


@pytest.mark.parametrize("where", ["/proc/x/report.json", "FILE/sub/report.json"])
def test_check_file_refuses_a_location_that_cannot_be_written(tmp_path, where):
    (tmp_path / "FILE").write_text("keep")
    path = Path(where.replace("FILE", str(tmp_path / "FILE")))
    with pytest.raises(InputError) as exc:
        outputs.check_file(path, force=True)
    assert str(path) in _one_line(exc)
    assert (tmp_path / "FILE").read_text() == "keep"


def test_check_file_accepts_a_new_file_below_new_folders_and_creates_nothing(tmp_path):
    outputs.check_file(tmp_path / "a" / "b" / "r.json", force=False)
    assert list(tmp_path.iterdir()) == []


def test_write_file_replaces_atomically_with_a_unique_temporary_file(tmp_path):
    path = tmp_path / "r.json"
    (tmp_path / ".r.json.tmp").write_text("someone else's")  # the old fixed temporary name
    outputs.write_file(path, "one")
    outputs.write_file(path, "two")
    assert path.read_text() == "two"
    assert (tmp_path / ".r.json.tmp").read_text() == "someone else's"
    assert _hidden(tmp_path) == [".r.json.tmp"]
    assert path.stat().st_mode & 0o644 == 0o644  # readable like any file, not mkstemp's 0600


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_write_file_failure_keeps_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "r.json"
    path.write_text("old")

    def broken(src, dst):
        raise failure

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(InputError if isinstance(failure, OSError) else KeyboardInterrupt) as exc:
        outputs.write_file(path, "new")
    if isinstance(failure, OSError):
        assert _one_line(exc) == f"cannot write {path}: No space left on device"
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_write_file_where_nothing_can_be_written_is_an_input_error():
    with pytest.raises(InputError) as exc:
        outputs.write_file(Path("/proc/x"), "text")
    assert _one_line(exc).startswith("cannot write /proc/x: ")


def test_check_dir_accepts_new_empty_and_our_folders_and_creates_nothing(tmp_path):
    outputs.check_dir(tmp_path / "new" / "deeper", force=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    outputs.check_dir(tmp_path / "empty", force=False)
    ours = tmp_path / "ours"
    outputs.open_dir(ours)
    (ours / "smoke.json").write_text("{}")
    outputs.check_dir(ours, force=False, replaces=True)
    assert sorted(p.name for p in ours.iterdir()) == [outputs.MARKER, "smoke.json"]


@pytest.mark.parametrize("replaces, verb", [(True, "replace it"), (False, "write into it")])
def test_check_dir_refuses_a_folder_holding_other_files_unless_forced(tmp_path, replaces, verb):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as exc:
        outputs.check_dir(tmp_path, force=False, replaces=replaces)
    msg = _one_line(exc)
    assert "(notes.txt)" in msg and "choose a new or empty folder" in msg and f"--force to {verb}" in msg
    outputs.check_dir(tmp_path, force=True, replaces=replaces)


def test_check_dir_refuses_a_file_even_with_force(tmp_path):
    (tmp_path / "f").write_text("keep")
    for path in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(InputError) as exc:
            outputs.check_dir(path, force=True)
        assert "is a file, not a folder" in _one_line(exc)
    assert (tmp_path / "f").read_text() == "keep"


def _fill(tree: Path) -> None:
    (tree / "set").mkdir()
    (tree / "set" / "a.yaml").write_text("a: 1\n")


def test_replace_dir_makes_a_marked_tree_and_replaces_its_own(tmp_path):
    out = tmp_path / "render"
    outputs.replace_dir(out, _fill, force=False)
    assert sorted(p.name for p in out.iterdir()) == [outputs.MARKER, "set"]
    (out / "set" / "stale.yaml").write_text("from an earlier run")
    outputs.replace_dir(out, _fill, force=False)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [outputs.MARKER, "set", "set/a.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]  # no .old, no temporary folder


def test_replace_dir_over_a_foreign_folder_only_with_force(tmp_path):
    out = tmp_path / "render"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="did not write"):
        outputs.replace_dir(out, _fill, force=False)
    assert (out / "notes.txt").read_text() == "mine"
    outputs.replace_dir(out, _fill, force=True)
    assert not (out / "notes.txt").exists() and (out / "set" / "a.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_replace_dir_failure_keeps_the_old_tree_and_removes_the_temporary_one(tmp_path, failure):
    out = tmp_path / "render"
    outputs.replace_dir(out, _fill, force=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    def broken(tree: Path) -> None:
        (tree / "half.yaml").write_text("half")
        raise failure

    with pytest.raises(InputError if isinstance(failure, OSError) else RuntimeError):
        outputs.replace_dir(out, broken, force=False)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_replace_dir_puts_the_old_tree_back_when_the_swap_fails(tmp_path, monkeypatch):
    out = tmp_path / "render"
    outputs.replace_dir(out, _fill, force=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name == "new":
            raise OSError(16, "Device or resource busy", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(InputError, match="Device or resource busy"):
        outputs.replace_dir(out, _fill, force=False)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_open_dir_creates_and_marks_the_folder(tmp_path):
    outputs.open_dir(tmp_path / "a" / "reports")
    assert (tmp_path / "a" / "reports" / outputs.MARKER).is_file()
    (tmp_path / "f").write_text("keep")
    with pytest.raises(InputError) as exc:
        outputs.open_dir(tmp_path / "f")
    assert _one_line(exc).startswith(f"cannot write {tmp_path / 'f'}: ")


def test_the_current_folder_and_its_parents_are_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for target in (work, tmp_path, Path(".")):
        with pytest.raises(InputError, match="never replaced"):
            outputs.check_dir(target, force=True, replaces=True)
