"""The kind provider: a real cluster in Docker containers, the full-fidelity path.

kind needs Docker that can run privileged containers, which this project's CI machines lack, so
the tests record the commands it runs with stand-in `kind` and `docker` programs on PATH. On a
workstation with Docker: `webstack smoke --provider kind`.

create: a kind config (one control-plane node, API server on 127.0.0.1), `kind create cluster
--wait`; images: `docker build` of app/ tagged with each requested tag, `kind load docker-image`;
stop: `kind delete cluster`. The kubeconfig is private to the run (kind writes it there instead of
~/.kube/config).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

from webstack.cluster import private_dir
from webstack.errors import ClusterError, ToolchainError
from webstack.paths import APP_DIR
from webstack.servers import LOOPBACK

# kind's node image for the Kubernetes version the kwok provider runs (kind v0.32 publishes it).
NODE_IMAGE = "kindest/node:v1.36.1"


def kind_config(api_port: int = 0) -> str:
    cfg = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"apiServerAddress": LOOPBACK, **({"apiServerPort": api_port} if api_port else {})},
        "nodes": [{"role": "control-plane", "image": NODE_IMAGE}],
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def _program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ToolchainError(
            f"`{name}` is not on PATH: the kind provider needs kind and Docker "
            "(https://kind.sigs.k8s.io/docs/user/quick-start/); use --provider kwok here"
        )
    return found


def _show(cmd: tuple[str, ...]) -> str:
    return " ".join((Path(cmd[0]).name, *cmd[1:]))


class KindCluster:
    provider = "kind"
    runs_containers = True

    def __init__(self, name: str | None = None, wait: str = "180s") -> None:
        self.name = name or f"webstack-{secrets.token_hex(3)}"
        self.wait = wait
        self.root: Path | None = None
        self.created = False

    @property
    def kubeconfig(self) -> Path:
        if self.root is None:
            raise ClusterError(f"kind cluster {self.name} is not started")
        return self.root / "kubeconfig"

    @property
    def context(self) -> str | None:
        return f"kind-{self.name}"

    def _run(self, *cmd: str, timeout: float = 900) -> None:
        try:
            res = subprocess.run(
                list(cmd),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"`{_show(cmd)}` did not finish within {timeout:.0f}s") from exc
        if res.returncode != 0:
            raise ClusterError(
                f"`{_show(cmd)}` failed (exit {res.returncode}):\n"
                f"{(res.stderr or res.stdout).strip()[-2000:]}"
            )

    def start(self) -> None:
        kind = _program("kind")
        self.root = private_dir(f"{self.name}-")
        config = self.root / "kind.yaml"
        config.write_text(kind_config())
        try:
            self.created = True
            self._run(
                kind,
                "create",
                "cluster",
                "--name",
                self.name,
                "--config",
                str(config),
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                self.wait,
            )
        except BaseException:
            with contextlib.suppress(ClusterError, ToolchainError):  # keep the original error
                self.stop()
            raise

    def load_images(self, images: list[str]) -> None:
        """Build the app image once with every requested tag, then load each tag into the nodes."""
        if not images:
            return
        docker, kind = _program("docker"), _program("kind")
        tags = [arg for image in images for arg in ("--tag", image)]
        self._run(docker, "build", *tags, str(APP_DIR))
        for image in images:
            self._run(kind, "load", "docker-image", image, "--name", self.name)

    def stop(self, keep_logs_in: Path | None = None) -> None:
        if self.root is None:
            return
        try:
            if self.created:
                kind = _program("kind")
                if keep_logs_in is not None:
                    with contextlib.suppress(ClusterError):  # logs are a bonus; deleting is not
                        self._run(
                            kind,
                            "export",
                            "logs",
                            str(keep_logs_in / f"kind-{self.name}-logs"),
                            "--name",
                            self.name,
                        )
                self._run(
                    kind, "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.created = False
