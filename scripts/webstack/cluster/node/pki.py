"""The node cluster's certificates, made with the openssl command (no new Python dependency).

One CA signs everything: the API server's serving certificate (valid for the node IP, 127.0.0.1
where the host relay reaches it, the Service IP pods use, and the kubernetes.default names), the
kubelet's serving certificate, and client certificates for the admin (system:masters) and the
node (system:node:<name>, so the Node authorizer and NodeRestriction judge the kubelet as they
would in production). The service-account signing key is a plain RSA pair.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from webstack.errors import ToolchainError

DAYS = "2"  # the cluster lives minutes; short validity keeps leaked files harmless


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    try:
        res = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ToolchainError("openssl is not installed: run `make setup`") from None
    if res.returncode != 0:
        raise ToolchainError(f"openssl {args[0]} failed: {res.stderr.strip()[-500:]}")


def _key(path: Path) -> None:
    _openssl("genrsa", "-out", str(path), "2048")
    path.chmod(0o600)


def make_ca(d: Path) -> Pair:
    ca = Pair(d / "ca.crt", d / "ca.key")
    _key(ca.key)
    _openssl("req", "-x509", "-new", "-key", str(ca.key), "-out", str(ca.cert), "-days", DAYS,
             "-subj", "/CN=webstack-node-ca")
    return ca


def issue(d: Path, ca: Pair, name: str, subject: str, *, server_names: list[str] = (),  # type: ignore[assignment]
          server_ips: list[str] = ()) -> Pair:  # type: ignore[assignment]
    """A certificate signed by `ca`; with names/IPs it is a serving certificate, else a client one."""
    pair = Pair(d / f"{name}.crt", d / f"{name}.key")
    _key(pair.key)
    csr = d / f"{name}.csr"
    _openssl("req", "-new", "-key", str(pair.key), "-out", str(csr), "-subj", subject)
    usage = "serverAuth" if (server_names or server_ips) else "clientAuth"
    ext = [f"extendedKeyUsage={usage}", "keyUsage=critical,digitalSignature,keyEncipherment",
           "basicConstraints=CA:FALSE"]
    sans = [f"DNS:{n}" for n in server_names] + [f"IP:{i}" for i in server_ips]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    extfile = d / f"{name}.ext"
    extfile.write_text("\n".join(ext) + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-out", str(pair.cert), "-days", DAYS, "-extfile", str(extfile))
    csr.unlink()
    extfile.unlink()
    return pair


def service_account_keys(d: Path) -> Pair:
    """The token signing pair: `cert` holds the public key, `key` the private one."""
    pair = Pair(d / "sa.pub", d / "sa.key")
    _key(pair.key)
    _openssl("rsa", "-in", str(pair.key), "-pubout", "-out", str(pair.cert))
    return pair
