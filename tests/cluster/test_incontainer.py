"""The in-container checks (testinfra's kubectl backend), with a stand-in `kubectl` on PATH.

No container runs on this machine (kwok pods have none, kind cannot start), so these tests prove
only the wiring: which `kubectl exec` commands testinfra's backend runs for each pod and container
(argv recorded by the stand-in), and how recorded outputs of real /proc files are interpreted into
findings. They do not prove that the chart's containers really run as non-root, listen or have
read-only mounts: only `webstack smoke --provider kind|existing` does. The expectations are built
from the real chart rendered by real helm.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_helpers import FIXTURES

from webstack import helm
from webstack.cluster import incontainer as ic
from webstack.cluster import scenario as scen
from webstack.cluster.kwok import KwokCluster
from webstack.errors import ClusterError
from webstack.lifecycle import Lifecycle
from webstack.paths import CHART_DIR

STAND_IN = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["KUBECTL_RECORD"], "a") as f:
    f.write(json.dumps(args) + "\\n")
pod = args[args.index("exec") + 1]
container = args[args.index("-c") + 1]
replay = json.load(open(os.environ["KUBECTL_REPLAY"]))
rc, out, err = replay.get(pod + "/" + container, {}).get(
    args[-1], [1, "", "stand-in kubectl: nothing recorded for " + args[-1]]
)
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
"""

# Recorded shapes of the kernel's files (from a containerd node): ids, sockets, mounts.
STATUS = "Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\nTracerPid:\t0\n"
STATUS += "Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\nFDSize:\t64\nGroups:\t{gid}\n"
TCP_HEAD = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)
TCP_ROW = (
    "   {i}: {addr}:{port:04X} {rem}:{rport:04X} {st} 00000000:00000000 00:00000000 00000000 "
    "  101        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
)
ROOT_RO = (
    "overlay / overlay ro,relatime,lowerdir=/var/lib/containerd/snapshots/41/fs,"
    "upperdir=/var/lib/containerd/snapshots/52/fs,workdir=/var/lib/containerd/snapshots/52/work 0 0\n"
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
    "tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n"
    "/dev/sda1 /etc/hosts ext4 rw,relatime 0 0\n"
    "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0\n"
    "tmpfs /tmp tmpfs rw,relatime,size=65536k 0 0\n"
)
EROFS = "touch: cannot touch '/.webstack-write-probe': Read-only file system\n"


def tcp(ports: list[int], busy: int = 0) -> str:
    """/proc/net/tcp then /proc/net/tcp6 (`cat` of both); one ESTABLISHED socket that must not count."""
    rows = [
        TCP_ROW.format(i=i, addr="00000000", port=p, rem="00000000", rport=0, st="0A", inode=4000 + i)
        for i, p in enumerate(ports)
    ]
    if busy:
        rows.append(
            TCP_ROW.format(i=9, addr="0AF4000A", port=busy, rem="0AF40011", rport=51234, st="01", inode=4999)
        )
    six = TCP_ROW.format(i=0, addr="0" * 32, port=ports[0], rem="0" * 32, rport=0, st="0A", inode=5000)
    return TCP_HEAD + "".join(rows) + TCP_HEAD + (six if ports else "")


def mounts_for(t: ic.Target, *, rw: frozenset[str] = frozenset(), root: str = "ro") -> str:
    text = ROOT_RO.replace("overlay / overlay ro,", f"overlay / overlay {root},")
    for m in t.mounts:
        fs = "tmpfs" if m.source.startswith("Secret/") else "/dev/sda1"
        kind, mode = ("tmpfs" if fs == "tmpfs" else "ext4"), ("rw" if m.path in rw else "ro")
        text += f"{fs} {m.path} {kind} {mode},relatime 0 0\n"
    return text


def healthy(t: ic.Target) -> dict[str, list[Any]]:
    """The outputs a container that does what its spec says would give."""
    out: dict[str, list[Any]] = {
        "cat -- /proc/1/status": [0, STATUS.format(name=t.container, uid=t.uid, gid=t.gid), ""],
        "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null": [0, tcp(list(t.ports), busy=40000), ""],
        "cat -- /proc/self/mounts": [0, mounts_for(t), ""],
        f"touch {ic.WRITE_PROBE}": [1, "", EROFS],
    }
    for m in t.mounts:
        for f in m.files:
            if f.content is None:
                out[f"test -f {f.path}"] = [0, "", ""]
            else:
                out[f"cat -- {f.path}"] = [0, f.content, ""]
    return out


@pytest.fixture(scope="module")
def chart_targets() -> list[ic.Target]:
    """The real chart's workloads, rendered by helm, as the pods the cluster would run."""
    rendered = helm.run(["template", "ws", str(CHART_DIR), "--namespace", "ns"]).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    pods = [
        (
            f"{d['kind']}/{d['metadata']['name']}",
            {
                "metadata": {"name": f"{d['metadata']['name']}-0", **d["spec"]["template"]["metadata"]},
                "spec": d["spec"]["template"]["spec"],
            },
        )
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    ]
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    secrets = {
        d["metadata"]["name"]: [*(d.get("data") or {}), *(d.get("stringData") or {})]
        for d in docs
        if d["kind"] == "Secret"
    }
    return ic.targets_from(pods, configmaps, secrets)


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    prog = bin_dir / "kubectl"
    prog.write_text(STAND_IN)
    prog.chmod(prog.stat().st_mode | stat.S_IEXEC)
    record, replay = tmp_path / "argv.jsonl", tmp_path / "replay.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WEBSTACK_KUBECTL", str(prog))
    monkeypatch.setenv("KUBECTL_RECORD", str(record))
    monkeypatch.setenv("KUBECTL_REPLAY", str(replay))
    return record, replay


def by_app(targets: list[ic.Target]) -> dict[str, ic.Target]:
    """The main container of each of the chart's three pods."""
    names = {"nginx": "nginx", "flask": "app", "mysql": "mysql"}
    return {
        app: next(t for t in targets if t.workload.endswith(app) and t.container == c)
        for app, c in names.items()
    }


def test_expectations_follow_the_real_chart(chart_targets: list[ic.Target]) -> None:
    main = by_app(chart_targets)
    assert set(main["nginx"].ports) >= {8080, 8081}
    assert set(main["flask"].ports) >= {8000} and set(main["mysql"].ports) >= {3306}
    for t in main.values():
        assert t.uid not in (None, 0) and t.read_only_root, t
    nginx_conf = [f for m in main["nginx"].mounts for f in m.files if f.path == "/etc/nginx/nginx.conf"]
    assert nginx_conf and nginx_conf[0].source.startswith("ConfigMap/ws-nginx:")
    assert nginx_conf[0].content and "listen" in nginx_conf[0].content  # the ConfigMap's text, to compare
    mysql = {m.path: m for m in main["mysql"].mounts}
    assert any(m.source.startswith("ConfigMap/") and m.files for m in mysql.values())
    secret_files = [f for m in mysql.values() if m.source.startswith("Secret/") for f in m.files]
    assert secret_files and all(f.content is None for f in secret_files)  # presence only, never read


def test_commands_and_a_container_that_does_what_its_spec_says(
    chart_targets: list[ic.Target], stand_in: tuple[Path, Path], tmp_path: Path
) -> None:
    record, replay = stand_in
    replay.write_text(json.dumps({t.where: healthy(t) for t in chart_targets}))
    kubeconfig = tmp_path / "kubeconfig"
    checks = ic.run_checks(chart_targets, "ns", kubeconfig, "kind-wst")
    assert [c.line() for c in checks if c.result == "failed"] == []
    argv = [json.loads(line) for line in record.read_text().splitlines()]
    nginx = by_app(chart_targets)["nginx"]
    assert argv[0] == [
        f"--kubeconfig={kubeconfig}",
        "--context=kind-wst",
        "-n",
        "ns",
        "-c",
        chart_targets[0].container,
        "exec",
        chart_targets[0].pod,
        "--",
        "/bin/sh",
        "-c",
        "cat -- /proc/1/status",
    ]
    assert [a[-1] for a in argv if a[7] == nginx.pod and a[5] == "nginx"] == [
        "cat -- /proc/1/status",
        "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null",
        "cat -- /proc/self/mounts",
        f"touch {ic.WRITE_PROBE}",
        "cat -- /etc/nginx/nginx.conf",
    ]
    secret_paths = {
        f.path for t in chart_targets for m in t.mounts if m.source.startswith("Secret/") for f in m.files
    }
    assert not [a for a in argv if any(a[-1] == f"cat -- {p}" for p in secret_paths)]  # never read
    text = ic.describe(checks)
    assert f"ok {nginx.where} user: PID 1 runs as uid {nginx.uid} gid {nginx.gid}" in text
    assert f"ok {nginx.where} ports: listening on 8080, 8081" in text  # 40000 ESTABLISHED: not listed
    assert f"ok {nginx.where} read-only root: / mounted ro; writing to / refused: touch:" in text
    assert (
        f"ok {nginx.where} configmap /etc/nginx/nginx.conf: /etc/nginx/nginx.conf from ConfigMap/ws-nginx"
        in text
    )


def test_findings_when_containers_disagree_with_their_spec(
    chart_targets: list[ic.Target], stand_in: tuple[Path, Path], tmp_path: Path
) -> None:
    _, replay = stand_in
    main = by_app(chart_targets)
    nginx, flask, mysql = main["nginx"], main["flask"], main["mysql"]
    bad = {t.where: healthy(t) for t in chart_targets}
    n = bad[nginx.where]
    n["cat -- /proc/1/status"][1] = STATUS.format(name="nginx", uid=0, gid=0)
    n["cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"][1] = tcp([8080])
    n["cat -- /proc/self/mounts"][1] = mounts_for(nginx, rw=frozenset({"/etc/nginx/nginx.conf"}), root="rw")
    n[f"touch {ic.WRITE_PROBE}"] = [0, "", ""]
    n["cat -- /etc/nginx/nginx.conf"][1] = "events {}\n"
    bad[flask.where]["cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"] = [
        1,
        "",
        "error: Internal error occurred",
    ]
    bad[flask.where][f"touch {ic.WRITE_PROBE}"] = [
        1,
        "",
        "touch: '/.webstack-write-probe': Permission denied",
    ]
    bad[flask.where]["cat -- /proc/self/mounts"][1] = mounts_for(flask, root="rw")
    gone = 'error: unable to upgrade connection: container not found ("mysql")'
    bad[mysql.where] = {cmd: [1, "", gone] for cmd in bad[mysql.where]}
    replay.write_text(json.dumps(bad))
    checks = ic.run_checks(chart_targets, "ns", tmp_path / "kc", None)
    failed = {(c.where, c.what): c.detail for c in checks if c.result == "failed"}
    assert failed[(nginx.where, "user")].startswith("PID 1 runs as uid 0 gid 0 (securityContext: runAsUser")
    assert failed[(nginx.where, "ports")].startswith("not listening on 8081; listening: [8080]")
    assert failed[(nginx.where, "read-only root")] == f"writing {ic.WRITE_PROBE} succeeded (/ mounted rw)"
    assert failed[(nginx.where, "configmap /etc/nginx/nginx.conf")] == (
        "/etc/nginx/nginx.conf mounted rw, not ro; /etc/nginx/nginx.conf differs from "
        "ConfigMap/ws-nginx:nginx.conf"
    )
    assert (
        failed[(flask.where, "ports")] == "cannot read /proc/net/tcp: exit 1: error: Internal error occurred"
    )
    assert failed[(flask.where, "read-only root")] == "/ is mounted rw, not ro"
    assert failed[(mysql.where, "user")] == f"cannot read /proc/1/status: exit 1: {gone}"
    assert failed[(mysql.where, "mounts")] == f"cannot read /proc/self/mounts: exit 1: {gone}"
    assert (flask.where, "user") not in failed  # the rest still ran and passed
    head = ic.describe(checks).splitlines()[0]
    assert head.endswith(f"{len(failed)} failed")
    # the argv without a context: no --context flag at all
    assert "--context" not in json.dumps(Path(os.environ["KUBECTL_RECORD"]).read_text())


def test_skipped_with_the_reason_on_kwok(tmp_path: Path) -> None:
    life = Lifecycle(KwokCluster(), scen.load(FIXTURES / "scenario.yaml"), "x", tmp_path)
    needs = [name for name, _, _, needs_containers in life.plan() if needs_containers]
    assert {"in-container checks", "http checks", "database pod deleted", "monitoring",
            "MySQL-down alert"} <= set(needs)
    assert "kwok runs no containers" in life.not_here(needs_containers=True)
    assert life.not_here(needs_containers=False) == ""


def test_kubectl_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSTACK_KUBECTL", str(tmp_path / "no-kubectl"))
    with pytest.raises(ClusterError, match="kubectl is needed for testinfra's kubectl backend"):
        ic.verify(None, "ns", tmp_path / "kc", None)


def test_proc_parsers() -> None:
    assert ic.status_ids(STATUS.format(name="x", uid=101, gid=102)) == (101, 102)
    with pytest.raises(ValueError):
        ic.status_ids("Name:\tx\n")
    assert ic.listening_ports(tcp([3306, 33060], busy=3306)) == {3306, 33060}
    mounts = ROOT_RO + "/dev/sda1 /etc/mysql/conf.d ext4 ro,relatime 0 0\n"
    assert ic.mount_for(mounts, "/etc/mysql/conf.d/webstack.cnf") == ("/etc/mysql/conf.d", ["ro", "relatime"])
    assert ic.mount_for(mounts, "/etc/mysql/conf.dx")[0] == "/"
    assert ic.mount_for(mounts, "/tmp/a")[1][0] == "rw"
