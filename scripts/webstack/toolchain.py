"""The pinned toolchain: Go-built tools cached per version and the apt packages tests need
(`webstack setup`, in webstack.commands.setup, provisions them with the static gate's CRD schemas).

Every Go tool is built once into <cache>/tools/<name>/<version>/bin and reused; a second run finds
everything in place and does nothing. Builds land in a temporary folder that is renamed into place
only when every binary built, so an interrupted build never leaves a half-filled cache entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from webstack.errors import ToolchainError
from webstack.paths import GOTOOLS_DIR, cache_dir

MIN_GO = (1, 26)
MIN_GO_TEXT = ".".join(map(str, MIN_GO))


@dataclass(frozen=True)
class GoTool:
    """A tool built from Go source at a pinned version."""

    name: str
    version: str
    binaries: tuple[str, ...]
    packages: tuple[str, ...]
    ldflags: str = ""
    # A committed tools module under scripts/gotools/ for modules that `go install` refuses
    # (replace directives); None means `go install <package>@<version>`.
    module: str | None = None
    why: str = ""
    # (name the build produces, name it is cached and linked as): keeps two builds of one program
    # (Helm 3 and Helm 4 are both `helm`) apart on PATH.
    rename: tuple[tuple[str, str], ...] = ()

    @property
    def bin_dir(self) -> Path:
        return cache_dir() / "tools" / self.name / self.version / "bin"

    def binary(self, name: str | None = None) -> Path:
        return self.bin_dir / (name or self.binaries[0])

    def installed(self) -> bool:
        return all(os.access(self.binary(b), os.X_OK) for b in self.binaries)


def _kube_ldflags(version: str) -> str:
    major, minor, _ = version.lstrip("v").split(".")
    base = "k8s.io/component-base/version"
    return (
        f"-X {base}.gitVersion={version} -X {base}.gitMajor={major} -X {base}.gitMinor={minor} "
        f"-X {base}.gitTreeState=clean"
    )


HELM_VERSION = "v4.2.4"
# Helm 3: the chart supports it (most operators still run it) and CI proves it; the toolkit itself
# keeps Helm 4 as its engine. Cached and linked as `helm3`, never as `helm`.
HELM3_VERSION = "v3.22.0"
KUBERNETES_VERSION = "v1.36.1"
PROMETHEUS_VERSION = "v0.316.0"  # the Go module version of Prometheus 3.16.0
PROMETHEUS_RELEASE = "3.16.0"

TOOLS: dict[str, GoTool] = {
    t.name: t
    for t in (
        GoTool(
            "helm", HELM_VERSION, ("helm",), (f"helm.sh/helm/v4/cmd/helm@{HELM_VERSION}",),
            # Unstamped builds report "v4.2", which pyhelm3 cannot parse as SemVer.
            ldflags=f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
            why="renders, lints and installs the chart",
        ),
        GoTool(
            "helm3", HELM3_VERSION, ("helm3",), (f"helm.sh/helm/v3/cmd/helm@{HELM3_VERSION}",),
            # Stamped like the official release (its Makefile): the version, and the Kubernetes
            # version `helm template` and `helm lint` assume (from its client-go v0.37.0, so 1.37);
            # unstamped, Helm 3 assumes 1.20 and refuses the chart's kubeVersion >=1.30.
            ldflags=f"-X helm.sh/helm/v3/internal/version.version={HELM3_VERSION} " + " ".join(
                f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}={value}"
                for pkg in ("lint/rules", "chartutil") for part, value in (("Major", 1), ("Minor", 37))),
            rename=(("helm", "helm3"),),
            why="proves the chart on Helm 3 too (lint, template, install/test/upgrade/rollback)",
        ),
        GoTool(
            "kubeconform", "v0.7.0", ("kubeconform",),
            ("github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0",),
            why="benchmark anchor and chart gate (-strict schema validation)",
        ),
        GoTool(
            "kube-score", "v1.20.0", ("kube-score",),
            ("github.com/zegl/kube-score/cmd/kube-score@v1.20.0",),
            why="peer linter the policy gate is compared against (tests/static/test_gate_parity.py)",
        ),
        GoTool(
            "chart-testing", "v3.14.0", ("ct",), ("github.com/helm/chart-testing/v3/ct",),
            # The module proxy refuses chart-testing's version list, which `go install @v` reads.
            module="chart-testing",
            ldflags="-X github.com/helm/chart-testing/v3/ct/cmd.Version=v3.14.0",
            why="`ct lint`, the chart-testing convention",
        ),
        GoTool(
            "helm-docs", "v1.14.2", ("helm-docs",), ("github.com/norwoodj/helm-docs/cmd/helm-docs@v1.14.2",),
            why="generates the chart READMEs' values tables",
        ),
        GoTool(
            "kwok", "v0.8.0", ("kwok", "kwokctl"),
            ("sigs.k8s.io/kwok/cmd/kwok@v0.8.0", "sigs.k8s.io/kwok/cmd/kwokctl@v0.8.0"),
            why="simulated nodes for the local cluster",
        ),
        GoTool(
            "etcd", "v3.6.10", ("etcd",), ("go.etcd.io/etcd/server/v3",), module="etcd",
            why="the local cluster's datastore",
        ),
        GoTool(
            "kubernetes", KUBERNETES_VERSION,
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
            tuple(f"k8s.io/kubernetes/cmd/{c}" for c in
                  ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
            # Unstamped builds report v0.0.0 and every chart kubeVersion constraint fails.
            ldflags=_kube_ldflags(KUBERNETES_VERSION), module="kubernetes",
            why="the local cluster's control plane",
        ),
        GoTool(
            "kube-node", KUBERNETES_VERSION, ("kubelet", "kube-proxy", "kubectl"),
            tuple(f"k8s.io/kubernetes/cmd/{c}" for c in ("kubelet", "kube-proxy", "kubectl")),
            ldflags=_kube_ldflags(KUBERNETES_VERSION), module="kubernetes",
            why="the real node: kubelet and kube-proxy, and a kubectl matching the cluster",
        ),
        GoTool(
            "coredns", "v1.15.0", ("coredns",), ("github.com/coredns/coredns@v1.15.0",),
            why="cluster DNS for the real node, run as a host process",
        ),
        GoTool(
            "cosign", "v3.1.3", ("cosign",), ("github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3",),
            why="signs and verifies the pushed chart and app image (key-based, offline)",
        ),
        # Monitoring (issue 17): promtool unit-tests the chart's alert rules; prometheus scrapes the
        # real node's pods. v0.316.0 is Prometheus 3.16.0 (go 1.26.7, no replace directives).
        GoTool(
            "prometheus", PROMETHEUS_VERSION, ("prometheus", "promtool"),
            tuple(f"github.com/prometheus/prometheus/cmd/{c}@{PROMETHEUS_VERSION}"
                  for c in ("prometheus", "promtool")),
            ldflags=f"-X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}",
            why="`promtool test rules` on the chart's alerts; Prometheus on the real node",
        ),
        # NetworkPolicy enforcement on the real node (issue 16). v2.1.0 is the only version served
        # here and has reported security flaws: acceptable for a local test enforcer that ships nowhere.
        GoTool(
            "kube-router", "v2.1.0", ("kube-router",),
            ("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v2.1.0",),
            ldflags="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0",
            why="enforces NetworkPolicy on the real node (firewall only; local test use, known CVEs)",
        ),
    )
}

# Debian packages the tests and local tiers use, with the program (or absolute file) that proves each
# is present.
APT_PACKAGES: dict[str, str] = {
    # The stack tier builds the app's runtime from the system Python, as the image does.
    "python3-venv": "/usr/lib/python3.11/ensurepip/__init__.py",
    "mariadb-server": "mariadbd",
    "mariadb-client": "mariadb-dump",
    "nginx": "nginx",
    "wrk": "wrk",
    "gnupg": "gpg",
    "docker-registry": "docker-registry",
    "git": "git",
    "procps": "pgrep",
    "openssl": "openssl",  # the ingress-tls scenario's self-signed certificate; the node's PKI
    # The real node (webstack.cluster.node). Debian's containerd 1.6 works with kubelet 1.36;
    # kubelet 1.37 will need containerd 2.x, which builds from its Go module.
    "containerd": "containerd",
    "runc": "runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "socat": "socat",
    "iproute2": "ip",
    "ipset": "ipset",  # kube-router's NetworkPolicy enforcement (ipset + iptables set match)
    # `webstack images build`: local images without a registry (buildah storage in the cache).
    "buildah": "buildah",
    "mmdebstrap": "mmdebstrap",
    "gcc": "gcc",  # the static pause binary
    "libc6-dev": "/usr/include/signal.h",
    # `webstack images push`: the app image from its cached archive to a registry, digests asked back.
    "skopeo": "skopeo",
}


def _say(msg: str) -> None:
    print(f"setup: {msg}", file=sys.stderr, flush=True)


def go_binary() -> str:
    fallback = "/usr/local/go/bin/go"  # where the official tarball installs; often not on a CI PATH
    go = shutil.which("go") or (fallback if os.access(fallback, os.X_OK) else None)
    if not go:
        raise ToolchainError(
            "Go is not installed, and the pinned tools (helm, kwok, ...) are built from source. "
            f"Install Go {MIN_GO_TEXT} or newer (https://go.dev/doc/install) and re-run `make setup`."
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    parts = out.removeprefix("go").split(".")
    try:
        found = (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise ToolchainError(f"cannot read the Go version from `{go} env GOVERSION` (got {out!r})") from None
    if found < MIN_GO:
        raise ToolchainError(
            f"{go} is {out}; the pinned tools need Go {MIN_GO_TEXT} or newer. Upgrade Go and re-run."
        )
    return go


def build(tool: GoTool, go: str) -> None:
    """Build `tool` into its cache folder, showing progress; atomic: all binaries or nothing."""
    parent = tool.bin_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="bin.", dir=parent))
    env = dict(os.environ, GOBIN=str(staging), CGO_ENABLED="0", GOFLAGS="-trimpath")
    ldflags = f"-s -w {tool.ldflags}".strip()
    try:
        if tool.module is None:
            cmds = [([go, "install", "-v", "-ldflags", ldflags, *tool.packages], None)]
        else:
            cwd = GOTOOLS_DIR / tool.module
            cmds = [
                ([go, "build", "-v", "-ldflags", ldflags, "-o", str(staging / name), pkg], cwd)
                for pkg, name in zip(tool.packages, tool.binaries, strict=True)
            ]
        for cmd, cwd in cmds:
            _run_with_progress(cmd, cwd, env, f"{tool.name} {tool.version}")
        for built, cached in tool.rename:
            if (staging / built).exists():
                (staging / built).rename(staging / cached)
        missing = [b for b in tool.binaries if not (staging / b).exists()]
        if missing:
            raise ToolchainError(f"building {tool.name} {tool.version} produced no {', '.join(missing)}")
        if tool.bin_dir.exists():
            shutil.rmtree(tool.bin_dir)
        staging.rename(tool.bin_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_with_progress(cmd: list[str], cwd: Path | None, env: dict[str, str], label: str) -> None:
    """Run a go build; `-v` prints one line per compiled package, which we count as progress."""
    start = time.monotonic()
    tty = sys.stderr.isatty()
    last_line = start
    tail: list[str] = []
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for compiled, line in enumerate(proc.stdout, 1):
        tail = [*tail[-40:], line.rstrip()]
        now = time.monotonic()
        if tty:
            print(f"\rsetup: building {label}: {compiled} packages, {now - start:.0f}s", end="",
                  file=sys.stderr, flush=True)
        elif now - last_line >= 30:
            _say(f"still building {label}: {compiled} packages, {now - start:.0f}s")
            last_line = now
    rc = proc.wait()
    if tty:
        print(file=sys.stderr)
    if rc != 0:
        raise ToolchainError(
            f"building {label} failed (exit {rc}): {' '.join(cmd)}\n" + "\n".join(tail[-20:])
        )
    _say(f"built {label} in {time.monotonic() - start:.0f}s")


def missing_apt_packages(packages: dict[str, str] = APT_PACKAGES) -> list[str]:
    missing = []
    for pkg, program in packages.items():
        if program.startswith("/"):
            if not os.path.exists(program):
                missing.append(pkg)
            continue
        if shutil.which(program) or any(
            os.access(Path(d) / program, os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin")
        ):
            continue
        missing.append(pkg)
    return missing


def install_apt(packages: list[str]) -> None:
    apt = shutil.which("apt-get")
    if not apt:
        raise ToolchainError(
            f"missing packages {' '.join(packages)} and no apt-get here: install them with your package "
            "manager (Debian/Ubuntu names) and re-run `make setup`."
        )
    if os.geteuid() != 0:
        raise ToolchainError(
            f"missing packages: run `sudo apt-get install -y {' '.join(packages)}`, then `make setup` again."
        )
    _say(f"installing apt packages: {' '.join(packages)}")
    # Packages must not start their system services (nginx on :80, mariadb): tests start their own.
    policy = Path("/usr/sbin/policy-rc.d")
    placed = not policy.exists()
    if placed:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        install = [apt, "install", "-y", "-q", "--no-install-recommends", *packages]
        for cmd in ([apt, "update", "-q"], install):
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise ToolchainError(
                    f"`{' '.join(cmd)}` failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
    finally:
        if placed:
            policy.unlink(missing_ok=True)
