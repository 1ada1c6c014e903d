"""The CLI's last resort: no traceback reaches the user, whatever a command raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack import cli
from webstack.commands import docs
from webstack.errors import InputError


def failing(exc: BaseException):
    def run(args: object) -> int:
        raise exc

    return run


def test_input_error_is_one_message_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(docs, "run", failing(InputError("f.yaml:3:1: expected a mapping")))
    assert cli.main(["docs"]) == 2
    assert capsys.readouterr().err == "error: f.yaml:3:1: expected a mapping\n"


def test_unexpected_exception_is_one_line_exit_3_and_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    monkeypatch.setattr(docs, "run", failing(RuntimeError("boom\nsecond line")))
    assert cli.main(["docs", "--write"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("internal error: RuntimeError: boom (details in ")
    saved = Path(captured.err.rsplit("details in ", 1)[1].rstrip(")\n"))
    assert saved.parent == tmp_path / "internal-errors"
    text = saved.read_text()
    assert text.startswith("webstack docs --write\n") and "Traceback" in text and "RuntimeError: boom" in text


def test_os_error_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(docs, "run", failing(PermissionError(13, "Permission denied", "/x/report.json")))
    assert cli.main(["docs"]) == 2
    assert capsys.readouterr().err == "error: /x/report.json: Permission denied\n"


def test_a_closed_stdout_is_quiet(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(docs, "run", failing(BrokenPipeError(32, "Broken pipe")))
    assert cli.main(["docs"]) == 141
    assert capsys.readouterr().err == ""
