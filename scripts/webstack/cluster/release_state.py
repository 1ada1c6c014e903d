"""Reading a release's state through the Kubernetes API: readiness, snapshots, diagnoses, leftovers.

Each function returns plain data or a list of problems (strings naming the object and what is
wrong), so the lifecycle can turn them into step results without knowing the API's types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from webstack.cluster.kube import Kube

HOOK = "helm.sh/hook"
KEEP = "helm.sh/resource-policy"


def _conds(obj: Any) -> list[Any]:
    return list(getattr(obj.status, "conditions", None) or [])


def _cond_text(c: Any) -> str:
    bits = [f"{c.type}={c.status}"]
    if getattr(c, "reason", None):
        bits.append(c.reason)
    if getattr(c, "message", None):
        bits.append(c.message)
    return " ".join(bits)


def not_ready(kube: Kube, ns: str) -> list[str]:
    """Workloads, pods, Jobs and claims that are not where a healthy release has them."""
    problems = []
    for d in kube.apps.list_namespaced_deployment(ns).items:
        want = d.spec.replicas if d.spec.replicas is not None else 1
        st = d.status
        if (st.available_replicas or 0) < want or (st.updated_replicas or 0) < want:
            bad = [_cond_text(c) for c in _conds(d) if c.status != "True"] or [
                _cond_text(c) for c in _conds(d)
            ]
            problems.append(
                f"Deployment/{d.metadata.name}: {st.available_replicas or 0}/{want} available, "
                f"{st.updated_replicas or 0} updated; {'; '.join(bad) or 'no conditions yet'}"
            )
    for s in kube.apps.list_namespaced_stateful_set(ns).items:
        want = s.spec.replicas if s.spec.replicas is not None else 1
        st = s.status
        if (st.ready_replicas or 0) < want or (st.current_revision != st.update_revision and want):
            problems.append(
                f"StatefulSet/{s.metadata.name}: {st.ready_replicas or 0}/{want} ready, "
                f"revision {st.current_revision} -> {st.update_revision}"
            )
    for j in kube.batch.list_namespaced_job(ns).items:
        if not any(c.type == "Complete" and c.status == "True" for c in _conds(j)):
            problems.append(
                f"Job/{j.metadata.name}: not complete "
                f"({'; '.join(_cond_text(c) for c in _conds(j)) or 'no conditions'}), "
                f"{j.status.active or 0} active, {j.status.failed or 0} failed"
            )
    for p in kube.core.list_namespaced_pod(ns).items:
        if p.status.phase == "Succeeded" or p.metadata.deletion_timestamp:
            continue
        ready = any(c.type == "Ready" and c.status == "True" for c in _conds(p))
        if not ready:
            waiting = [
                f"{cs.name}: {cs.state.waiting.reason}"
                for cs in (p.status.container_statuses or [])
                if cs.state and cs.state.waiting
            ]
            conds = [_cond_text(c) for c in _conds(p) if c.status != "True"]
            problems.append(
                f"Pod/{p.metadata.name}: phase {p.status.phase}"
                f"{'; ' + '; '.join(waiting) if waiting else ''}"
                f"{'; ' + '; '.join(conds) if conds else ''}"
            )
    for c in kube.core.list_namespaced_persistent_volume_claim(ns).items:
        if c.status.phase != "Bound":
            problems.append(f"PersistentVolumeClaim/{c.metadata.name}: {c.status.phase}")
    return problems


def warning_events(kube: Kube, ns: str, limit: int = 8) -> list[str]:
    events = [e for e in kube.core.list_namespaced_event(ns).items if e.type == "Warning"]
    events.sort(key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp))
    return [
        f"{e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}" for e in events[-limit:]
    ]


def diagnose(kube: Kube, ns: str) -> str:
    """Why a release is not ready: each unready object with its conditions, then warning events."""
    try:
        problems = not_ready(kube, ns)
        events = warning_events(kube, ns)
    except Exception as exc:  # diagnosis must never hide the original failure
        return f"(could not diagnose namespace {ns}: {exc})"
    lines = problems or ["no workload, pod or claim is unready right now"]
    if events:
        lines += ["warning events:", *events]
    return "\n".join(lines)


def services_without_endpoints(kube: Kube, ns: str) -> list[str]:
    """Services with a selector that no ready endpoint backs."""
    slices = kube.discovery.list_namespaced_endpoint_slice(ns).items
    ready: dict[str, int] = {}
    for s in slices:
        svc = (s.metadata.labels or {}).get("kubernetes.io/service-name", "")
        n = sum(1 for e in (s.endpoints or []) if e.conditions is None or e.conditions.ready is not False)
        ready[svc] = ready.get(svc, 0) + n
    return [
        f"Service/{svc.metadata.name}: no ready endpoints"
        for svc in kube.core.list_namespaced_service(ns).items
        if svc.spec.selector and not ready.get(svc.metadata.name)
    ]


@dataclass
class Snapshot:
    """What the upgrade and rollback assertions compare."""

    templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # workload -> images, annotations
    pods: dict[str, set[str]] = field(default_factory=dict)  # workload -> names of its current pods
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> digest of its data
    pvcs: dict[str, str] = field(default_factory=dict)  # claim -> uid


def _template(obj: Any) -> dict[str, Any]:
    spec = obj.spec.template
    return {
        "images": sorted(c.image for c in spec.spec.containers),
        "annotations": {
            k: v
            for k, v in (spec.metadata.annotations or {}).items()
            if not k.startswith("kubectl.kubernetes.io/")
        },
    }


def snapshot(kube: Kube, ns: str, secret_names: Iterable[str]) -> Snapshot:
    snap = Snapshot()
    owners: dict[str, str] = {}
    for d in kube.apps.list_namespaced_deployment(ns).items:
        snap.templates[f"Deployment/{d.metadata.name}"] = _template(d)
    for rs in kube.apps.list_namespaced_replica_set(ns).items:
        for ref in rs.metadata.owner_references or []:
            owners[f"ReplicaSet/{rs.metadata.name}"] = f"Deployment/{ref.name}"
    for s in kube.apps.list_namespaced_stateful_set(ns).items:
        snap.templates[f"StatefulSet/{s.metadata.name}"] = _template(s)
    for p in kube.core.list_namespaced_pod(ns).items:
        if p.metadata.deletion_timestamp or p.status.phase in ("Succeeded", "Failed"):
            continue
        for ref in p.metadata.owner_references or []:
            owner = owners.get(f"{ref.kind}/{ref.name}", f"{ref.kind}/{ref.name}")
            rev = (p.metadata.labels or {}).get("controller-revision-hash", "")
            snap.pods.setdefault(owner, set()).add(f"{p.metadata.name}@{p.metadata.uid}{rev}")
    wanted = set(secret_names)
    for sec in kube.core.list_namespaced_secret(ns).items:
        if sec.metadata.name in wanted:
            digest = hashlib.sha256(repr(sorted((sec.data or {}).items())).encode()).hexdigest()
            snap.secrets[sec.metadata.name] = digest[:16]
    for c in kube.core.list_namespaced_persistent_volume_claim(ns).items:
        snap.pvcs[c.metadata.name] = c.metadata.uid
    return snap


# Kinds checked after uninstall, with the objects a namespace has without any release in it.
_LEFTOVER_KINDS = (
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "Job",
    "Pod",
    "Service",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "ServiceAccount",
)
_BUILTIN = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def _live(pod: Any) -> bool:
    return bool(pod.metadata.deletion_timestamp) or pod.status.phase not in ("Succeeded", "Failed")


def pods_gone(kube: Kube, ns: str, timeout: float) -> None:
    """Return once no pod of `ns` runs or terminates, or after `timeout`. After `helm uninstall` pods
    go after their owners (the garbage collector removes the ReplicaSets once helm returns) and take
    their grace period: the leftover check waits for this, then names what is still there, such as
    a completed pod left behind (a test hook without a delete policy), which is not waited for.
    Watched, not polled: the matrix's ten namespaces listing their pods every second kept the API
    server busy on 2 CPUs, and a poll lands on average half its interval late."""
    from kubernetes import watch

    listing = kube.core.list_namespaced_pod(ns)
    waiting = {p.metadata.name for p in listing.items if _live(p)}
    if not waiting:
        return
    w = watch.Watch()
    try:
        for event in w.stream(kube.core.list_namespaced_pod, ns, timeout_seconds=max(1, int(timeout)),
                              resource_version=listing.metadata.resource_version):
            if event["type"] == "ERROR":  # the watch expired: the leftover check names what is left
                return
            pod = event["object"]
            if event["type"] == "DELETED" or not _live(pod):
                waiting.discard(pod.metadata.name)
            else:
                waiting.add(pod.metadata.name)
            if not waiting:
                return
    finally:
        w.stop()


def inventory(kube: Kube, ns: str) -> dict[str, Any]:
    """Every object of the kinds a chart makes, keyed "Kind/name" (namespace defaults excluded)."""
    listers = {
        "Deployment": kube.apps.list_namespaced_deployment,
        "StatefulSet": kube.apps.list_namespaced_stateful_set,
        "ReplicaSet": kube.apps.list_namespaced_replica_set,
        "Job": kube.batch.list_namespaced_job,
        "Pod": kube.core.list_namespaced_pod,
        "Service": kube.core.list_namespaced_service,
        "ConfigMap": kube.core.list_namespaced_config_map,
        "Secret": kube.core.list_namespaced_secret,
        "PersistentVolumeClaim": kube.core.list_namespaced_persistent_volume_claim,
        "ServiceAccount": kube.core.list_namespaced_service_account,
    }
    found = {}
    for kind in _LEFTOVER_KINDS:
        for obj in listers[kind](ns).items:
            if (kind, obj.metadata.name) in _BUILTIN:
                continue
            found[f"{kind}/{obj.metadata.name}"] = obj
    return found


def kept_on_purpose(manifest: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Objects a chart keeps after uninstall, by design, with the reason.

    - anything annotated helm.sh/resource-policy: keep (helm skips it on uninstall);
    - PersistentVolumeClaims made from a StatefulSet's volumeClaimTemplates (Kubernetes keeps
      them so data outlives the workload; whenDeleted: Delete in persistentVolumeClaimRetentionPolicy
      would remove them).
    """
    kept: dict[str, str] = {}
    for obj in manifest:
        meta = obj.get("metadata") or {}
        if (meta.get("annotations") or {}).get(KEEP) == "keep":
            kept[f"{obj['kind']}/{meta['name']}"] = "annotated helm.sh/resource-policy: keep"
        if obj.get("kind") == "StatefulSet":
            spec = obj.get("spec") or {}
            policy = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
            if policy == "Delete":
                continue
            for tpl in spec.get("volumeClaimTemplates") or []:
                for i in range(int(spec.get("replicas", 1) or 0)):
                    name = f"{tpl['metadata']['name']}-{meta['name']}-{i}"
                    kept[f"PersistentVolumeClaim/{name}"] = (
                        f"volumeClaimTemplate of StatefulSet/{meta['name']} (data outlives the release)"
                    )
    return kept
