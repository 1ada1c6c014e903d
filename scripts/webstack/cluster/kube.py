"""The Kubernetes API side of the cluster tier: clients, and the namespaces we own.

A namespace we create carries OWNER_LABEL; we never modify or delete one without it, so pointing
the toolkit at a shared cluster (`--provider existing`) cannot damage anything it did not make.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webstack import yamlstream
from webstack.errors import ClusterError

OWNER_LABEL = "webstack.toolkit/created-by"
OWNER_VALUE = "webstack-smoke"
OWNER_NOTE = "webstack.toolkit/purpose"
PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass
class Kube:
    """Typed API groups over one ApiClient bound to a kubeconfig (and context)."""

    api: Any  # kubernetes.client.ApiClient
    kubeconfig: Path
    context: str | None

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def storage(self) -> Any:
        from kubernetes import client

        return client.StorageV1Api(self.api)

    @property
    def discovery(self) -> Any:
        from kubernetes import client

        return client.DiscoveryV1Api(self.api)

    def close(self) -> None:
        self.api.close()


def connect(kubeconfig: Path, context: str | None = None, timeout: float = 10) -> Kube:
    """A client for the cluster; ClusterError naming the kubeconfig if it is unreadable or unreachable."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if not kubeconfig.is_file():
        raise ClusterError(
            f"kubeconfig {kubeconfig} does not exist: start a cluster "
            "(`webstack cluster up`) or pass --kubeconfig with a readable file"
        )
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except (ConfigException, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        where = f" context {context!r}" if context else ""
        raise ClusterError(f"kubeconfig {kubeconfig}{where} is not usable: {exc}") from exc
    kube = Kube(api, kubeconfig, context)
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as exc:  # urllib3/ssl/ApiException: all mean "cannot use this cluster"
        kube.close()
        server = api.configuration.host
        raise ClusterError(
            f"the cluster in {kubeconfig} ({server}) is not reachable: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from exc
    return kube


def server_version(kube: Kube) -> str:
    from kubernetes import client

    return str(client.VersionApi(kube.api).get_code().git_version)


def is_ours(ns: Any) -> bool:
    return (ns.metadata.labels or {}).get(OWNER_LABEL) == OWNER_VALUE


def create_namespace(kube: Kube, name: str, purpose: str = "helm release lifecycle test") -> None:
    """Create a fresh namespace enforcing the restricted Pod Security Standard, marked as ours.

    A namespace of that name that exists already is an error: if it is not ours we must not touch
    it, and if it is ours it is left over from a run that did not finish (its owner must look).
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        existing = kube.core.read_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise ClusterError(f"cannot read namespace {name}: {exc.reason}") from exc
        existing = None
    if existing is not None:
        whose = (
            "was left by an earlier webstack run that did not finish; delete it "
            f"(`kubectl delete namespace {name}`) or"
            if is_ours(existing)
            else f"was not created by webstack (no {OWNER_LABEL}={OWNER_VALUE} label), so it is left alone;"
        )
        raise ClusterError(f"namespace {name!r} already exists and {whose} choose another with --namespace")
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(
            name=name, labels={OWNER_LABEL: OWNER_VALUE, **PSS_LABELS}, annotations={OWNER_NOTE: purpose}
        )
    )
    kube.core.create_namespace(body)


def delete_namespaces(kube: Kube, names: list[str], wait: float = 90) -> list[str]:
    """Delete namespaces, only those we created, all at once; the names still present after `wait`.

    Their claims go first: a claim's protection finalizer makes the namespace controller come back
    for a second pass, 5 s after its first (an emptied namespace with one claim took 10.7 s to go on
    kwok, 5.5 s when its claim was deleted just before)."""
    from kubernetes.client.exceptions import ApiException

    pending = []
    for name in names:
        try:
            ns = kube.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        if not is_ours(ns):
            raise ClusterError(f"refusing to delete namespace {name!r}: it was not created by webstack")
        kube.core.delete_collection_namespaced_persistent_volume_claim(name)
        kube.core.delete_namespace(name)
        pending.append(name)
    deadline = time.monotonic() + wait
    while pending and time.monotonic() < deadline:
        time.sleep(0.3)
        live = {n.metadata.name for n in kube.core.list_namespace().items}
        pending = [n for n in pending if n in live]
    return pending


def install_crds(kube: Kube, paths: list[Path], timeout: float = 60) -> list[str]:
    """Create the CustomResourceDefinitions in these manifest files (those already there are left as
    they are) and wait until each is Established; returns their names. For test clusters: the pinned
    ones come from `webstack.checks.crds.manifests()`, cached by `webstack setup`."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext = client.ApiextensionsV1Api(kube.api)
    names: list[str] = []
    for path in paths:
        for doc in yaml.load_all(path.read_text(), Loader=yamlstream.Loader):  # libyaml: CRDs are big
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            names.append(name)
            try:
                ext.create_custom_resource_definition(doc)
            except ApiException as exc:
                if exc.status != 409:
                    raise ClusterError(
                        f"creating CRD {name} from {path} failed: {exc.reason}: {exc.body}") from exc

    def established(name: str) -> bool:
        conds = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conds)

    deadline = time.monotonic() + timeout
    for name in names:
        while not established(name):
            if time.monotonic() > deadline:
                raise ClusterError(f"CRD {name} not Established within {timeout:.0f}s")
            time.sleep(0.2)
    return names
