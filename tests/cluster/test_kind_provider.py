"""The kind provider, with stand-in `kind` and `docker` programs that record their arguments.

kind cannot run here (Docker refuses privileged containers), so these tests check the exact
commands and the kind config it would use; the README calls kind the full-fidelity path.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from webstack.cluster import make
from webstack.cluster.kind import NODE_IMAGE, KindCluster
from webstack.errors import ClusterError, ToolchainError
from webstack.paths import APP_DIR

RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["RECORD"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
args = sys.argv[1:]
if args[:2] == ["create", "cluster"]:
    cfg = args[args.index("--config") + 1]
    with open(os.environ["RECORD"] + ".config", "w") as f:
        f.write(open(cfg).read())
    kc = args[args.index("--kubeconfig") + 1]
    open(kc, "w").write("apiVersion: v1\\nkind: Config\\n")
sys.exit(int(os.environ.get("FAIL_" + os.path.basename(sys.argv[0]).upper(), "0")))
"""


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("kind", "docker"):
        prog = bin_dir / name
        prog.write_text(RECORDER)
        prog.chmod(prog.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD", str(record))
    monkeypatch.setenv("WEBSTACK_TMP", str(tmp_path))
    return record


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_create_load_delete_commands(fake_tools: Path) -> None:
    cluster = make("kind", "wst")
    assert isinstance(cluster, KindCluster) and cluster.runs_containers
    cluster.start()
    kubeconfig = cluster.kubeconfig
    assert kubeconfig.parent.parent == fake_tools.parent  # private folder, not ~/.kube/config
    cluster.load_images(["webstack/app:1.0.0", "webstack/app:1.0.1"])
    cluster.stop()
    config = str(kubeconfig.parent / "kind.yaml")
    assert calls(fake_tools) == [
        [
            "kind",
            "create",
            "cluster",
            "--name",
            "wst",
            "--config",
            config,
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "180s",
        ],
        ["docker", "build", "--tag", "webstack/app:1.0.0", "--tag", "webstack/app:1.0.1", str(APP_DIR)],
        ["kind", "load", "docker-image", "webstack/app:1.0.0", "--name", "wst"],
        ["kind", "load", "docker-image", "webstack/app:1.0.1", "--name", "wst"],
        ["kind", "delete", "cluster", "--name", "wst", "--kubeconfig", str(kubeconfig)],
    ]
    cfg = yaml.safe_load(Path(str(fake_tools) + ".config").read_text())
    assert cfg["kind"] == "Cluster" and cfg["networking"]["apiServerAddress"] == "127.0.0.1"
    assert cfg["nodes"] == [{"role": "control-plane", "image": NODE_IMAGE}]
    assert not kubeconfig.parent.exists()  # the private folder is gone


def test_failed_create_still_deletes_and_says_why(fake_tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL_KIND", "1")
    cluster = KindCluster("wst2")
    with pytest.raises(ClusterError, match="kind create cluster --name wst2"):
        cluster.start()
    assert [c[:3] for c in calls(fake_tools)] == [
        ["kind", "create", "cluster"],
        ["kind", "delete", "cluster"],
    ]
    assert cluster.root is None


def test_logs_are_exported_on_failure(fake_tools: Path, tmp_path: Path) -> None:
    cluster = KindCluster("wst3")
    cluster.start()
    cluster.stop(keep_logs_in=tmp_path / "reports")
    assert [
        "kind",
        "export",
        "logs",
        str(tmp_path / "reports" / "kind-wst3-logs"),
        "--name",
        "wst3",
    ] in calls(fake_tools)


def test_missing_kind_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"`kind` is not on PATH.*--provider kwok"):
        KindCluster("x").start()
