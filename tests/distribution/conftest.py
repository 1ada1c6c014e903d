"""Distribution tier: a throwaway GPG key, real nginx serving a chart repository, a real OCI registry.

Every helm call here runs with private HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME and every
gpg call with a private GNUPGHOME, so the user's helm repositories and keys are never touched.
Server folders live in their own /tmp folders: the servers run as service users when we are root,
and pytest's tmp_path sits under a root-only folder they could not enter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dist_helpers import GpgKey, make_key

from webstack.errors import WebstackError
from webstack.registry import LocalRegistry, local_registry
from webstack.servers import LOOPBACK, free_port, port_open, service_user, start_process, wait_until

FIXTURES = Path(__file__).parents[1] / "fixtures" / "distribution"
DEMO = FIXTURES / "demo"


def _shared_tmp(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module", autouse=True)
def private_helm_and_gpg_homes() -> Iterator[Path]:
    """Private helm and gpg homes per test module, restored afterwards (other tiers never see them)."""
    root = Path(tempfile.mkdtemp(prefix="webstack-dist-homes-"))
    env = {
        "HELM_CONFIG_HOME": root / "helm-config",
        "HELM_CACHE_HOME": root / "helm-cache",
        "HELM_DATA_HOME": root / "helm-data",
        "GNUPGHOME": root / "gnupg",
    }
    # the release settings `make package` reads: a user's own must not sign or re-URL the tests' packages
    release_env = ("WEBSTACK_SIGNING_KEY", "WEBSTACK_KEYRING", "WEBSTACK_PASSPHRASE_FILE",
                   "WEBSTACK_REPO_URL")
    saved = {k: os.environ.get(k) for k in (*env, *release_env)}
    for k in release_env:
        os.environ.pop(k, None)
    for k, v in env.items():
        v.mkdir(mode=0o700)
        os.environ[k] = str(v)
    yield root
    for k, old in saved.items():
        if old is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = old
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def gpg_key(tmp_path_factory: pytest.TempPathFactory) -> GpgKey:
    return make_key(tmp_path_factory.mktemp("gpg") / "home", "webstack test signer",
                    "signer@webstack.invalid")


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> GpgKey:
    return make_key(tmp_path_factory.mktemp("gpg-other") / "home", "someone else", "other@webstack.invalid")


@pytest.fixture
def real_chart() -> Path:
    """The real umbrella chart; its absence fails the test (the distribution tier must package it)."""
    from webstack.paths import CHART_DIR

    if not (CHART_DIR / "Chart.yaml").is_file():
        pytest.fail(f"{CHART_DIR / 'Chart.yaml'} is missing: the real chart must exist for this test",
                    pytrace=False)
    return CHART_DIR


@pytest.fixture
def demo_chart(tmp_path: Path) -> Path:
    """A private copy of the fixture umbrella chart (tests may edit it)."""
    dest = tmp_path / "src" / "demo"
    shutil.copytree(DEMO, dest)
    return dest


@pytest.fixture
def app_version(tmp_path: Path) -> Path:
    path = tmp_path / "VERSION"
    path.write_text("1.0.0\n")
    return path


@dataclass
class StaticServer:
    root: Path  # the folder served at /
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {state}/access.log;
    client_body_temp_path {state}/client_body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    types {{ text/yaml yaml; application/gzip tgz; text/plain prov; }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        root {root};
        location / {{ try_files $uri =404; }}
    }}
}}
"""


@pytest.fixture(scope="session")
def chart_repo_server() -> Iterator[StaticServer]:
    """Real nginx serving a folder on 127.0.0.1:<free port>, as www-data when we are root."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx not found: `make setup` installs it; the chart repository tests need it",
                    pytrace=False)
    base = _shared_tmp("webstack-dist-nginx-")
    root, state = base / "repo", base / "state"
    root.mkdir(mode=0o755)
    state.mkdir()
    port = free_port()
    conf = state / "nginx.conf"
    conf.write_text(NGINX_CONF.format(state=state, host=LOOPBACK, port=port, root=root))
    user = service_user("www-data")
    if user:
        shutil.chown(state, user, user)
    proc = start_process("nginx", [nginx, "-e", str(state / "error.log"), "-p", str(state), "-c", str(conf)],
                         base / "nginx.out", user=user)
    try:
        wait_until(lambda: port_open(port), 20, f"nginx on {LOOPBACK}:{port}", log=state / "error.log",
                   alive=proc.alive)
    except Exception as exc:
        proc.stop()
        pytest.fail(f"nginx could not start: {exc}", pytrace=False)
    yield StaticServer(root, port, proc.pid)
    proc.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def oci_registry() -> Iterator[LocalRegistry]:
    """Debian's docker-registry (CNCF distribution) on 127.0.0.1:<free port>, filesystem storage."""
    base = _shared_tmp("webstack-dist-registry-")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        try:
            reg = stack.enter_context(local_registry(base))
        except WebstackError as exc:
            pytest.fail(f"the OCI registry could not start, so the OCI tests cannot run: {exc}",
                        pytrace=False)
        yield reg


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `webstack ...` in this process; returns exit code, stdout, stderr."""
    from webstack.cli import main

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    return run


@dataclass(frozen=True)
class CosignKeys:
    key: Path   # cosign.key, encrypted with PASSWORD
    pub: Path   # cosign.pub


COSIGN_PASSWORD = "webstack-test-password"


@pytest.fixture(scope="session")
def cosign_keys(tmp_path_factory: pytest.TempPathFactory) -> CosignKeys:
    """A throwaway cosign key pair (`cosign generate-key-pair`, password from COSIGN_PASSWORD)."""
    from webstack import cosign

    folder = tmp_path_factory.mktemp("cosign")
    saved = os.environ.get("COSIGN_PASSWORD")
    os.environ["COSIGN_PASSWORD"] = COSIGN_PASSWORD
    try:
        key, pub = cosign.generate_key_pair(folder)
    except WebstackError as exc:
        pytest.fail(f"cosign could not make a key pair (`make setup` builds cosign): {exc}", pytrace=False)
    finally:
        if saved is None:
            os.environ.pop("COSIGN_PASSWORD", None)
        else:
            os.environ["COSIGN_PASSWORD"] = saved
    return CosignKeys(key, pub)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`with offline():` every cosign run can reach 127.0.0.1 only: its other HTTP(S) requests go to a
    proxy that is not there, so a cosign that reached for Rekor, Fulcio or TUF would fail instead of
    quietly using the network. Only cosign's environment is cut: an app image that the push rebuilds
    (app/ changed) still reaches PyPI."""
    import subprocess
    import types

    from webstack import cosign

    dead = f"http://{LOOPBACK}:{free_port()}"
    cut_env = {name: dead for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}
    cut_env.update({name: f"{LOOPBACK},localhost" for name in ("NO_PROXY", "no_proxy")})
    cut_env.update(COSIGN_PASSWORD=COSIGN_PASSWORD, TUF_ROOT=str(tmp_path / "tuf"))  # no trust root

    def run(*args, **kwargs):
        kwargs["env"] = {**(kwargs.get("env") or os.environ), **cut_env}
        return subprocess.run(*args, **kwargs)

    @contextlib.contextmanager
    def cut() -> Iterator[None]:
        with monkeypatch.context() as m:
            m.setattr(cosign, "subprocess", types.SimpleNamespace(**{**vars(subprocess), "run": run}))
            m.setenv("COSIGN_PASSWORD", COSIGN_PASSWORD)
            yield

    return cut
