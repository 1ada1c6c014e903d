"""The server check: every render through a real kube-apiserver (etcd + API server only), dry run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webstack.checks import run_gate
from webstack.cluster import apiserver
from webstack.paths import CHART_DIR
from webstack.values import ValuesSet, matrix

pytestmark = pytest.mark.static
GATE = Path(__file__).parents[1] / "fixtures" / "gate"


@pytest.fixture
def pids(monkeypatch):
    """The pid of every etcd and kube-apiserver the test's runs launch."""
    seen: list[int] = []
    launch = apiserver.APIServer.launch

    def spy(self):
        launch(self)
        seen.extend(self.pids().values())

    monkeypatch.setattr(apiserver.APIServer, "launch", spy)
    return seen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_real_chart_matrix_passes_and_nothing_outlives_the_run(pids, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSTACK_TMP", str(tmp_path))
    sets = matrix(CHART_DIR)
    result = run_gate(CHART_DIR, sets, [], checks=("server",))
    assert result.checks == ["server"]
    assert [f for f in result.findings if f.severity > 0] == []
    assert result.timings["server start"] > 0
    assert len(pids) == 2 and not any(_alive(p) for p in pids)
    assert list(tmp_path.iterdir()) == []  # the private folder is gone too


def test_flask_rolling_update_0_0_names_the_values_key_and_file(tmp_path):
    # The chart's own schema now refuses this pair; a chart without flask's schema shows what the
    # API server alone catches (and that the finding leads back to the values file).
    chart = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, chart)
    (chart / "charts" / "flask" / "values.schema.json").unlink()
    values = tmp_path / "zero-values.yaml"
    values.write_text("flask:\n  rollingUpdate:\n    maxSurge: 0\n    maxUnavailable: 0\n")
    result = run_gate(chart, [ValuesSet("zero", (values,))], [], checks=("server",))
    [f] = [f for f in result.findings if f.severity > 0]
    assert (f.check, f.rule, f.object) == ("server", "SERVER-REJECTED", "Deployment/webstack-flask")
    assert f.file == "webstack/charts/flask/templates/deployment.yaml"
    assert f.path == "spec.strategy.rollingUpdate.maxUnavailable"
    assert f"set by flask.rollingUpdate.maxUnavailable in {values}:4" in f.message
    assert f.context == "zero"


def test_what_only_a_real_api_server_rejects():
    chart = GATE / "server-bad"
    result = run_gate(chart, matrix(chart), [], checks=("server",))
    by = {(f.rule, f.object, f.path): f for f in result.findings}
    pss = by[("SERVER-PSS", "Pod/debug", "spec")]  # the real Pod Security admission plugin
    assert "violates PodSecurity \"restricted:latest\"" in pss.message and "runAsUser=0" in pss.message
    label = by[("SERVER-REJECTED", "Deployment/api", "metadata.labels")]
    assert "platform team!" in label.message and "set by team in values.yaml:1" in label.message
    port = by[("SERVER-REJECTED", "Deployment/api", "spec.template.spec.containers[0].ports[0].name")]
    assert "no more than 15 characters" in port.message and "set by portName in values.yaml:2" in port.message
    cron = by[("SERVER-REJECTED", "CronJob/backup", "spec.schedule")]
    assert "61" in cron.message and "set by backup.schedule in values.yaml:4" in cron.message
    crd = by[("SERVER-NOT-CHECKED", "ServiceMonitor/api", "apiVersion")]
    assert crd.severity == 0 and "not server-checked" in crd.message
    assert all(f.file.startswith("server-bad/templates/") for f in result.findings)
    assert len(result.findings) == 5


def _ours(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(root).encode() in cmd and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_ctrl_c_leaves_no_process_and_no_folder(tmp_path):
    env = dict(os.environ, WEBSTACK_TMP=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "webstack", "check", "--check", "server",
                             "--chart", str(GATE / "server-bad")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    started: list[int] = []
    while time.monotonic() < deadline and len(started) < 2:
        started = _ours(tmp_path)
        time.sleep(0.05)
    assert len(started) == 2, "etcd and kube-apiserver did not start"
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    assert not any(_alive(p) for p in started)
    assert list(tmp_path.iterdir()) == []


def test_killed_parent_takes_the_processes_with_it(tmp_path):
    """Even SIGKILL of the run (no finally, no atexit) stops them: PR_SET_PDEATHSIG."""
    code = ("from webstack.cluster.apiserver import APIServer\n"
            "s = APIServer(); s.launch(); print(*s.pids().values(), flush=True)\n"
            "import time; time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, WEBSTACK_TMP=str(tmp_path)),
                            stdout=subprocess.PIPE, text=True)
    started = [int(p) for p in proc.stdout.readline().split()]
    assert len(started) == 2 and all(_alive(p) for p in started)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.05)
    assert not any(_alive(p) for p in started)
