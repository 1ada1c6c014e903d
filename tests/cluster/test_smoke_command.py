"""`webstack smoke` end to end: bad input gives a clear error, and teardown is always complete.

Each test here starts (or fails to reach) its own cluster, under a private $WEBSTACK_TMP, and then
checks that no process, port or folder of it is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import FIXTURES, processes_under

from webstack.cli import main
from webstack.servers import free_port


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "webstack-tmp"
    root.mkdir()
    monkeypatch.setenv("WEBSTACK_TMP", str(root))
    return root


def assert_torn_down(root: Path) -> None:
    assert processes_under(root) == [], "cluster processes left running"
    assert list(root.iterdir()) == [], f"temporary folders left: {list(root.iterdir())}"


def report(report_dir: Path) -> dict[str, dict[str, object]]:
    data = json.loads((report_dir / "smoke.json").read_text())
    assert (report_dir / "smoke.junit.xml").exists()
    return {s["name"]: s for s in data["steps"]}


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    return path


def test_unreachable_kubeconfig(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{free_port()}")
    code = main(
        [
            "smoke",
            "--provider",
            "existing",
            "--kubeconfig",
            str(kubeconfig),
            "--report-dir",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"the cluster in {kubeconfig} (https://127.0.0.1:" in err and "is not reachable" in err
    steps = report(tmp_path / "r")
    assert steps["cluster up"]["result"] == "failed" and "install" not in steps
    assert_torn_down(private_tmp)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("not: [a kubeconfig", "is not usable"),
    ],
)
def test_bad_kubeconfig_files(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    kubeconfig = tmp_path / "kc"
    if content is not None:
        kubeconfig.write_text(content)
    assert main(["smoke", "--provider", "existing", "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err
    assert str(kubeconfig) in err and message in err


def test_missing_chart_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--chart", str(tmp_path / "nochart")]) == 2
    assert f"chart {tmp_path / 'nochart'} has no Chart.yaml" in capsys.readouterr().err


def test_bad_namespace_name_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--namespace", "Not_Valid"]) == 2
    assert "--namespace 'Not_Valid' is not a DNS label" in capsys.readouterr().err


def test_chart_that_fails_to_install_reports_and_tears_down(tmp_path: Path, private_tmp: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(FIXTURES / "chart", chart)
    # The API server rejects this Service: the install fails at once, with the server's reason.
    (chart / "values.yaml").write_text(
        (chart / "values.yaml").read_text().replace("servicePort: 8000", "servicePort: 0")
    )
    reports = tmp_path / "reports"
    code = main(
        [
            "smoke",
            "--provider",
            "kwok",
            "--scenario",
            str(FIXTURES / "scenario.yaml"),
            "--chart",
            str(chart),
            "--namespace",
            "failing",
            "--report-dir",
            str(reports),
        ]
    )
    assert code == 1
    steps = report(reports)
    assert steps["cluster up"]["result"] == "passed"
    assert steps["install"]["result"] == "failed"
    detail = str(steps["install"]["detail"])
    assert 'Service "fx-web" is invalid: spec.ports[0].port: Invalid value: 0' in detail
    assert steps["upgrade"]["result"] == "skipped"
    assert steps["cluster down"]["result"] == "passed"
    logs = list(reports.glob("kwok-*-logs"))
    assert logs and (logs[0] / "kube-apiserver.log").stat().st_size > 0  # kept because the run failed
    assert_torn_down(private_tmp)


def test_sigterm_mid_run_tears_everything_down(tmp_path: Path, private_tmp: Path) -> None:
    env = dict(os.environ, WEBSTACK_TMP=str(private_tmp))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webstack",
            "smoke",
            "--provider",
            "kwok",
            "--scenario",
            str(FIXTURES / "scenario.yaml"),
            "--report-dir",
            str(tmp_path / "r"),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the command announces each step as it finishes
        seen.append(line)
        if "install" in line:
            break
    assert any("passed  cluster up" in s for s in seen), "".join(seen)
    assert processes_under(private_tmp), "the cluster should be running now"
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(120) == 130, rest
    assert "interrupted" in rest
    deadline = time.monotonic() + 10
    while processes_under(private_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_torn_down(private_tmp)
    steps = report(tmp_path / "r")
    assert steps["cluster down"]["result"] == "passed"


def test_cluster_up_status_down(private_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"wst-{os.getpid()}"
    assert main(["cluster", "up", "--provider", "kwok", "--name", name]) == 0
    try:
        out = capsys.readouterr().out
        kubeconfig = Path(out.split("export KUBECONFIG=")[1].split()[0])
        assert kubeconfig.is_relative_to(private_tmp) and kubeconfig.exists()
        assert processes_under(private_tmp)
        assert main(["cluster", "status", "--name", name]) == 0
        assert f"KUBECONFIG={kubeconfig}" in capsys.readouterr().out
        assert main(["cluster", "up", "--provider", "kwok", "--name", name]) == 2  # one cluster per name
        assert "is already up" in capsys.readouterr().err
    finally:
        assert main(["cluster", "down", "--name", name]) == 0
    assert_torn_down(private_tmp)
    assert main(["cluster", "status", "--name", name]) == 1
    assert main(["cluster", "down", "--name", name]) == 2
    assert f"no cluster {name} is up" in capsys.readouterr().err
