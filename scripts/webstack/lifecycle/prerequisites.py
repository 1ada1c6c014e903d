"""What a values file says exists outside the chart, made in the release's namespace before install.

The values name external objects (an existing Secret, claim, registry credential, TLS Secret,
ServiceAccount; webstack.checks.references finds them); the rendered pods say which keys they read
in them. `prepare()` creates exactly those (random passwords, a real self-signed certificate), waits
for the claims to be Bound, and installs the pinned CRDs of any custom resource the render makes
(Gateway API's for an HTTPRoute). So a ci values file needs no setup of its own: what it declares
external is what gets made.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from webstack.cluster.kube import Kube, install_crds
from webstack.manifests import Manifest, join, pod_template, pod_template_path
from webstack.servers import wait_until

MADE_BY = {"webstack.toolkit/made-by": "prerequisites"}


@dataclass
class Externals:
    """What must exist in the namespace before the install: Kind/name -> keys the pods read."""

    secrets: dict[str, set[str]] = field(default_factory=dict)
    pull_secrets: set[str] = field(default_factory=set)
    tls_secrets: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    config_maps: dict[str, set[str]] = field(default_factory=dict)
    service_accounts: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        return sorted(
            [f"Secret/{n}" for n in {*self.secrets, *self.pull_secrets, *self.tls_secrets}]
            + [f"PersistentVolumeClaim/{n}" for n in self.claims]
            + [f"ConfigMap/{n}" for n in self.config_maps]
            + [f"ServiceAccount/{n}" for n in self.service_accounts]
        )


def externals(manifests: list[Manifest], declared: set[str]) -> Externals:
    """The objects the values declare external, with the keys the rendered pods reference in them."""
    from webstack.checks.references import pod_refs

    ext = Externals()
    for m in manifests:
        tpl = pod_template(m)
        if tpl is None:
            continue
        for path, kind, name, key in pod_refs(join(pod_template_path(m), "spec"), tpl.get("spec") or {}):
            if f"{kind}/{name}" not in declared:
                continue  # rendered by the chart itself
            if kind == "Secret" and ".imagePullSecrets[" in path:
                ext.pull_secrets.add(name)
            elif kind == "Secret":
                ext.secrets.setdefault(name, set()).update({key} if key else set())
            elif kind == "ConfigMap":
                ext.config_maps.setdefault(name, set()).update({key} if key else set())
            elif kind == "PersistentVolumeClaim":
                ext.claims.add(name)
            elif kind == "ServiceAccount":
                ext.service_accounts.add(name)
    rendered = {m.ref for m in manifests}
    for m in manifests:
        if m.kind == "Ingress":
            for tls in (m.doc.get("spec") or {}).get("tls") or []:
                if (name := tls.get("secretName")) and f"Secret/{name}" not in rendered:
                    ext.tls_secrets.add(name)  # cert-manager's job in production
    return ext


def tls_pair(folder: Path) -> tuple[bytes, bytes]:
    """A real self-signed certificate and key (openssl), for the Ingress TLS Secrets."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=webstack.example.com", "-keyout", str(folder / "tls.key"),
         "-out", str(folder / "tls.crt")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (folder / "tls.crt").read_bytes(), (folder / "tls.key").read_bytes()


def create(kube: Kube, ns: str, ext: Externals, tls: tuple[bytes, bytes]) -> str:
    """Create every external object (random passwords), and wait until the claims are Bound."""
    from kubernetes import client

    def meta(name: str) -> client.V1ObjectMeta:
        return client.V1ObjectMeta(name=name, labels=MADE_BY)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    def secret(name: str, kind: str, data: dict[str, str]) -> None:
        kube.core.create_namespaced_secret(ns, client.V1Secret(metadata=meta(name), type=kind, data=data))

    for name, keys in ext.secrets.items():
        secret(name, "Opaque", {k: b64(secrets.token_urlsafe(18).encode()) for k in keys})
    for name in ext.pull_secrets - set(ext.secrets):
        config = json.dumps({"auths": {"registry.invalid": {"auth": b64(b"ci:unused")}}}).encode()
        secret(name, "kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64(config)})
    for name in ext.tls_secrets:
        secret(name, "kubernetes.io/tls", {"tls.crt": b64(tls[0]), "tls.key": b64(tls[1])})
    for name, keys in ext.config_maps.items():
        body = client.V1ConfigMap(metadata=meta(name), data=dict.fromkeys(keys, ""))
        kube.core.create_namespaced_config_map(ns, body)
    for name in ext.service_accounts:
        kube.core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=meta(name)))
    for name in ext.claims:
        spec = client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
        )
        kube.core.create_namespaced_persistent_volume_claim(
            ns, client.V1PersistentVolumeClaim(metadata=meta(name), spec=spec)
        )
    for name in ext.claims:
        wait_until(
            lambda n=name: kube.core.read_namespaced_persistent_volume_claim(n, ns).status.phase == "Bound",
            60,
            f"PersistentVolumeClaim/{name} Bound",
        )
    return ", ".join(ext.names()) or "none needed"


def install_needed_crds(kube: Kube, manifests: list[Manifest]) -> str:
    """The pinned CRDs (cached by `webstack setup`) of every custom resource the render makes."""
    from webstack.checks import crds

    mods = {mod for m in manifests if (mod := crds.pinned_module_for(m.doc.get("apiVersion", "")))}
    ordered = sorted(mods, key=lambda mod: mod.module)
    names = [n for mod in ordered for n in install_crds(kube, crds.manifests(mod))]
    return ", ".join(names) or "none needed"


def prepare(
    kube: Kube, chart: Path, release: str, values_file: Path, ns: str, tls: tuple[bytes, bytes]
) -> tuple[str, list[Manifest]]:
    """Render the values file as `release` in `ns`, make what it declares external and the CRDs it
    needs; (what was made, the rendered manifests)."""
    from webstack.checks.references import externals_from_values
    from webstack.render import render_all
    from webstack.values import ValuesSet, merged, set_name

    vs = ValuesSet(set_name(values_file), (values_file,))
    (render,) = render_all(chart, [vs], release=release, namespace=ns).values()
    ext = externals(render.manifests, externals_from_values(merged(chart, vs)))
    made = create(kube, ns, ext, tls)
    crd_names = install_needed_crds(kube, render.manifests)
    return f"external objects: {made}; CRDs: {crd_names}", render.manifests
