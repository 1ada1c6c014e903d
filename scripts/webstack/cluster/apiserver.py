"""A bare control plane for validation: etcd and kube-apiserver only, on 127.0.0.1, for one run.

No kubelet, controller-manager or scheduler: nothing runs, nothing is reconciled. The API server
validates, defaults and admits (Pod Security included) what it is sent, which is all the static
gate's `server` check needs. Everything lives in one private temporary folder (certificates from
webstack.cluster.node.pki, etcd's data, logs); stop() kills both processes and removes the folder,
and it runs on success, failure and Ctrl-C (the context manager, plus an atexit net). The processes
also carry PR_SET_PDEATHSIG=SIGKILL, so they die with the thread that started them even when this
Python process is killed outright: none may outlive the run.

launch() returns as soon as both processes are started, so the caller can overlap the API server's
start with other work (the gate renders meanwhile); wait_ready() then blocks until it answers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webstack.cluster import private_dir
from webstack.errors import ClusterError, ToolchainError
from webstack.servers import LOOPBACK, Process, free_port, log_tail

FIELD_MANAGER = "webstack-check"
# etcd and kube-apiserver plugins that need something this control plane does not run:
# ServiceAccount admission rejects a Pod whose account was not made by a controller-manager.
DISABLED_ADMISSION = ("ServiceAccount",)
_PR_SET_PDEATHSIG = 1
# Ready without the RBAC bootstrap roles (the last ~1 s of the start): the check's client is in
# system:masters, which the API server's privileged-group authorizer admits before RBAC is asked.
READYZ = {"exclude": "poststarthook/rbac/bootstrap-roles"}


def binaries() -> dict[str, Path]:
    from webstack.toolchain import TOOLS

    found = {"etcd": TOOLS["etcd"].binary("etcd"),
             "kube-apiserver": TOOLS["kubernetes"].binary("kube-apiserver")}
    missing = [f"{k} ({p})" for k, p in found.items() if not os.access(p, os.X_OK)]
    if missing:
        raise ToolchainError(f"the server check needs binaries that are not built yet: {', '.join(missing)}. "
                             "Run `make setup` (builds and caches them once).")
    return found


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _start(name: str, cmd: list[str], log: Path) -> Process:
    with log.open("ab") as out:
        popen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, preexec_fn=_die_with_parent)
    return Process(name, popen, log)


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    warnings: list[str]


class APIServer:
    """etcd + kube-apiserver in a private folder; launch()/wait_ready()/stop(), or `with APIServer():`."""

    def __init__(self, start_timeout: float = 60, workers: int = 8) -> None:
        self.start_timeout = start_timeout
        self.workers = workers
        self.root: Path | None = None
        self.port = 0
        self.procs: dict[str, Process] = {}
        self.timings: dict[str, float] = {}
        self._launched_at = 0.0
        self._http: Any = None
        self._ready = False
        self._lock = threading.Lock()
        self._discovery: dict[str, Future[dict[str, tuple[str, bool]] | None]] = {}
        self._groups: set[str] | None = None

    # -- life -----------------------------------------------------------------------------------
    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> APIServer:
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        """Certificates, then both processes; returns without waiting for the API server to answer."""
        bins = binaries()
        t0 = self._launched_at = time.monotonic()
        self.root = private_dir("webstack-apiserver-")
        atexit.register(self.stop)
        try:
            pk, logs, data = self.root / "pki", self.root / "logs", self.root / "etcd"
            for d in (pk, logs):
                d.mkdir()
            client, peer = _distinct_ports(2)
            etcd_url = f"http://{LOOPBACK}:{client}"
            # etcd needs no certificate: it starts while openssl makes the API server's
            self.procs["etcd"] = _start("etcd", [
                str(bins["etcd"]), "--name", "check", "--data-dir", str(data),
                "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                "--listen-peer-urls", f"http://{LOOPBACK}:{peer}",
                "--initial-advertise-peer-urls", f"http://{LOOPBACK}:{peer}",
                "--initial-cluster", f"check=http://{LOOPBACK}:{peer}", "--unsafe-no-fsync",
                "--log-level", "warn",
            ], logs / "etcd.log")
            ca, serving_pair, admin_pair, sa_pair = _certificates(pk)
            self.timings["certificates"] = time.monotonic() - t0
            self.port = free_port()
            self.procs["kube-apiserver"] = _start("kube-apiserver", [
                str(bins["kube-apiserver"]), "--etcd-servers", etcd_url,
                "--bind-address", LOOPBACK, "--advertise-address", LOOPBACK, "--secure-port", str(self.port),
                "--client-ca-file", str(ca.cert),
                "--tls-cert-file", str(serving_pair.cert), "--tls-private-key-file", str(serving_pair.key),
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", str(sa_pair.cert),
                "--service-account-signing-key-file", str(sa_pair.key),
                "--service-cluster-ip-range", "10.96.0.0/16",
                "--authorization-mode", "RBAC",
                "--disable-admission-plugins", ",".join(DISABLED_ADMISSION),
                "--allow-privileged=true",  # as a default cluster: Pod Security admission judges pods
                "--enable-priority-and-fairness=false", "--profiling=false",
                "--endpoint-reconciler-type=none",
                "--cert-dir", str(pk),
            ], logs / "kube-apiserver.log")
            self._client(ca.cert, admin_pair.cert, admin_pair.key)
        except BaseException:
            self.stop()
            raise

    def _client(self, ca: Path, cert: Path, key: Path) -> None:
        import urllib3

        self._http = urllib3.PoolManager(
            num_pools=2, maxsize=max(self.workers, 4), block=False, cert_reqs="CERT_REQUIRED",
            ca_certs=str(ca), cert_file=str(cert), key_file=str(key),
            timeout=urllib3.Timeout(connect=2, read=30), retries=False)

    def wait_ready(self) -> None:
        """Block until /readyz answers 200 and the check namespace can be made; ClusterError otherwise."""
        if self._ready:
            return
        if not self.procs:
            raise ClusterError("the API server was not launched")
        deadline = self._launched_at + self.start_timeout
        try:
            while True:
                for proc in self.procs.values():
                    if not proc.alive():
                        raise ClusterError(f"{proc.name} exited while starting:\n{log_tail(proc.log, 15)}")
                with contextlib.suppress(Exception):
                    if self.request("GET", "/readyz", params=READYZ).status == 200:
                        break
                if time.monotonic() > deadline:
                    raise ClusterError("the API server did not become ready within "
                                       f"{self.start_timeout:.0f}s:\n{self.diagnostics()}")
                time.sleep(0.05)
            self._ready = True
            self.timings["ready"] = time.monotonic() - self._launched_at
        except BaseException:
            self.stop()
            raise

    @property
    def started_seconds(self) -> float:
        return self.timings.get("ready", 0.0)

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def diagnostics(self) -> str:
        return "\n".join(f"{n} ({p.log}):\n{log_tail(p.log, 10)}" for n, p in self.procs.items())

    def stop(self) -> None:
        """Kill both processes (nothing in them is worth a graceful stop), remove the folder. Idempotent."""
        with self._lock:
            for proc in reversed(list(self.procs.values())):
                if proc.alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(10)
            self.procs.clear()
            if self._http is not None:
                self._http.clear()
                self._http = None
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None
            self._ready = False
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)

    # -- requests -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                params: dict[str, str] | None = None) -> Response:
        if self._http is None:
            raise ClusterError("the API server is not running")
        from urllib.parse import urlencode

        url = f"https://{LOOPBACK}:{self.port}{path}" + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        resp = self._http.request(method, url, body=data, headers=headers)
        try:
            text = resp.data.decode(errors="replace")
            parsed = json.loads(text) if text[:1] in "{[" and text else {"message": text}
        except ValueError:
            parsed = {"message": text}
        return Response(resp.status, parsed, _warnings(resp.headers.getlist("Warning")))

    def create_namespace(self, name: str, labels: dict[str, str]) -> None:
        """A real namespace (dry-run objects need it to exist); retried while admission warms up."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        deadline = time.monotonic() + 15
        while True:
            r = self.request("POST", "/api/v1/namespaces", body)
            if r.status in (200, 201, 409):
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"could not create namespace {name}: {r.status} {r.body.get('message')}")
            time.sleep(0.05)

    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) of a served kind, None when this API server does not serve it."""
        with self._lock:
            fut = self._discovery.get(api_version)
            if fut is None:
                fut = self._discovery[api_version] = Future()
                owner = True
            else:
                owner = False
        if owner:
            try:
                fut.set_result(self._discover(api_version))
            except BaseException as exc:
                fut.set_exception(exc)
        kinds = fut.result()
        return None if kinds is None else kinds.get(kind)

    def _discover(self, api_version: str) -> dict[str, tuple[str, bool]] | None:
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        r = self.request("GET", path)
        if r.status == 404:
            return None
        if r.status != 200:
            raise ClusterError(f"discovery of {api_version} failed: {r.status} {r.body.get('message')}")
        return {res["kind"]: (res["name"], bool(res.get("namespaced")))
                for res in r.body.get("resources") or [] if "/" not in res["name"]}

    def served_groups(self) -> set[str]:
        """Every API group this server knows (the core group is "")."""
        if self._groups is None:
            r = self.request("GET", "/apis")
            self._groups = {"", *(g["name"] for g in r.body.get("groups") or [])}
        return self._groups


def _ec_key(path: Path) -> None:
    """A P-256 key: ~100x faster to make than pki's RSA 2048 (0.1-0.6 s each on a busy machine)."""
    from webstack.cluster.node import pki

    pki._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def _issue(d: Path, ca: Any, name: str, subject: str, server_ips: tuple[str, ...] = ()) -> Any:
    """pki.issue's certificate with an EC key (same extensions: serving with IP SANs, else client)."""
    from webstack.cluster.node import pki

    pair = pki.Pair(d / f"{name}.crt", d / f"{name}.key")
    _ec_key(pair.key)
    usage = "serverAuth" if server_ips else "clientAuth"
    ext = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment",
           "basicConstraints=CA:FALSE"]
    if server_ips:
        ext.append("subjectAltName=DNS:localhost," + ",".join(f"IP:{i}" for i in server_ips))
    (d / f"{name}.ext").write_text("\n".join(ext) + "\n")
    pki._openssl("req", "-new", "-key", str(pair.key), "-out", str(d / f"{name}.csr"), "-subj", subject)
    pki._openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(ca.cert), "-CAkey", str(ca.key),
                 "-CAcreateserial", "-out", str(pair.cert), "-days", pki.DAYS,
                 "-extfile", str(d / f"{name}.ext"))
    return pair


def _certificates(d: Path) -> tuple[Any, Any, Any, Any]:
    """CA, serving pair (127.0.0.1), admin client pair (system:masters), service-account key pair."""
    from webstack.cluster.node import pki

    ca = pki.Pair(d / "ca.crt", d / "ca.key")
    _ec_key(ca.key)
    pki._openssl("req", "-x509", "-new", "-key", str(ca.key), "-out", str(ca.cert), "-days", pki.DAYS,
                 "-subj", "/CN=webstack-check-ca")
    serving = _issue(d, ca, "apiserver", "/CN=kube-apiserver", (LOOPBACK,))
    admin = _issue(d, ca, "admin", "/O=system:masters/CN=webstack-check")
    sa = pki.Pair(d / "sa.pub", d / "sa.key")
    _ec_key(sa.key)
    pki._openssl("pkey", "-in", str(sa.key), "-pubout", "-out", str(sa.cert))
    return ca, serving, admin, sa


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def _warnings(values: list[str]) -> list[str]:
    """The text of RFC 7234 Warning headers (`299 - "text"`); one header may hold several, comma-joined."""
    import re

    out = []
    for value in values:
        out += [m.replace('\\"', '"') for m in re.findall(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', value)]
    return out


@contextlib.contextmanager
def running(**kw: Any) -> Iterator[APIServer]:
    server = APIServer(**kw)
    try:
        yield server.start()
    finally:
        server.stop()
