"""Workloads as they should run: probes, resources, images, labels, selectors, PDBs, Service ports,
NetworkPolicy rules every enforcer can keep."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from webstack.checks.policy import Issue, container_specs, rule
from webstack.manifests import (
    LONG_RUNNING_KINDS,
    Manifest,
    containers,
    join,
    map_selector_matches,
    pod_labels,
    pod_template,
    pod_template_path,
    selector_matches,
)
from webstack.report import Severity, yaml_value

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
MUTABLE_LABELS = ("helm.sh/chart", "app.kubernetes.io/version")


def _app_containers(m: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    if m.kind not in LONG_RUNNING_KINDS:
        return
    for path, c, _sc, _p in container_specs(m):
        if path.rsplit(".", 1)[-1].startswith("containers["):
            yield path, c


@rule("PROBE-READINESS", Severity.ERROR, "without a readiness probe traffic reaches pods that are not ready")
def _readiness(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _app_containers(m):
        if not c.get("readinessProbe"):
            yield join(path, "readinessProbe"), "missing"


@rule("PROBE-LIVENESS", Severity.WARNING, "without a liveness probe a hung process is never restarted")
def _liveness(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _app_containers(m):
        if not c.get("livenessProbe"):
            yield join(path, "livenessProbe"), "missing"


@rule("RESOURCES-REQUESTS", Severity.ERROR, "the scheduler places pods by their cpu and memory requests")
def _requests(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c, _sc, _p in container_specs(m):
        req = (c.get("resources") or {}).get("requests") or {}
        missing = [r for r in ("cpu", "memory") if r not in req]
        if missing:
            yield join(path, "resources.requests"), f"no {' and '.join(missing)} request"


@rule("RESOURCES-LIMITS", Severity.WARNING, "a memory limit keeps one pod from starving its node")
def _limits(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c, _sc, _p in container_specs(m):
        if "memory" not in ((c.get("resources") or {}).get("limits") or {}):
            yield join(path, "resources.limits.memory"), "no memory limit"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name[: len(name) - len(tag) - 1] if tag else name
    return repo, tag, digest or None


@rule(
    "IMAGE-TAG-PINNED",
    Severity.ERROR,
    "an unpinned or `latest` tag makes rollouts and rollbacks unreproducible",
)
def _image_tag(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c, _sc, _p in container_specs(m):
        _repo, tag, digest = split_image(str(c.get("image", "")))
        if digest:
            continue
        if not tag:
            yield join(path, "image"), f"{yaml_value(c.get('image'))} has no tag or digest"
        elif tag == "latest":
            yield join(path, "image"), f"{c.get('image')!r} uses the latest tag"


@rule(
    "IMAGE-PULL-POLICY",
    Severity.WARNING,
    "an explicit pull policy (never Always on a digest) avoids tag-dependent defaults and needless pulls",
)
def _pull_policy(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c, _sc, _p in container_specs(m):
        policy = c.get("imagePullPolicy")
        if policy is None:
            yield join(path, "imagePullPolicy"), "not set (the default depends on the tag)"
        elif policy == "Always" and split_image(str(c.get("image", "")))[2]:
            yield join(path, "imagePullPolicy"), "Always with a digest pulls for nothing; use IfNotPresent"


@rule("LABELS-RECOMMENDED", Severity.WARNING, "tools and people find objects by the recommended labels")
def _labels(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    missing = [k for k in RECOMMENDED_LABELS if k not in m.labels]
    if missing:
        yield "metadata.labels", f"missing {', '.join(missing)}"
    tpl = pod_template(m)
    if tpl is not None and m.kind != "Pod":
        missing = [k for k in RECOMMENDED_LABELS[:2] if k not in pod_labels(m)]
        if missing:
            yield join(pod_template_path(m), "metadata.labels"), f"missing {', '.join(missing)}"


@rule(
    "SELECTOR-MATCHES-TEMPLATE",
    Severity.ERROR,
    "a selector that does not match its pod template is rejected, one with mutable labels breaks upgrades",
)
def _selector(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    if m.kind not in (*LONG_RUNNING_KINDS,):
        return
    selector = (m.doc.get("spec") or {}).get("selector")
    if not selector:
        yield "spec.selector", "missing"
        return
    if not selector_matches(selector, pod_labels(m)):
        yield "spec.selector", "does not match spec.template.metadata.labels"
    for key in MUTABLE_LABELS:
        if key in (selector.get("matchLabels") or {}):
            yield f"spec.selector.matchLabels.{key}", "changes every release; selectors are immutable"


def _replicas(target: Manifest, all_: list[Manifest]) -> int:
    """The fewest replicas a workload runs: an HPA's minReplicas when one scales it, else spec.replicas."""
    for hpa in all_:
        ref = (hpa.doc.get("spec") or {}).get("scaleTargetRef") or {}
        if (
            hpa.kind == "HorizontalPodAutoscaler"
            and ref.get("kind") == target.kind
            and ref.get("name") == target.name
        ):
            return int((hpa.doc.get("spec") or {}).get("minReplicas", 1))
    return int((target.doc.get("spec") or {}).get("replicas", 1))


def _percent(value: Any, of: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * of / 100)
    return int(value)


@rule("PDB-ALLOWS-EVICTION", Severity.ERROR, "a PDB that allows no disruption blocks node drains forever")
def _pdb(m: Manifest, all_: list[Manifest]) -> Iterator[Issue]:
    if m.kind != "PodDisruptionBudget":
        return
    spec = m.doc.get("spec") or {}
    targets = [
        w
        for w in all_
        if w.kind in LONG_RUNNING_KINDS and selector_matches(spec.get("selector"), pod_labels(w))
    ]
    for t in targets:
        replicas = _replicas(t, all_)
        if "maxUnavailable" in spec and _percent(spec["maxUnavailable"], replicas) < 1:
            yield "spec.maxUnavailable", f"allows no eviction of {t.ref}"
        if "minAvailable" in spec and _percent(spec["minAvailable"], replicas) >= replicas:
            yield (
                "spec.minAvailable",
                f"{spec['minAvailable']} of {replicas} replica(s) of {t.ref}: no pod can ever be evicted",
            )


@rule(
    "SERVICE-TARGET-PORT",
    Severity.ERROR,
    "a Service port with no matching container port sends traffic nowhere",
)
def _service_ports(m: Manifest, all_: list[Manifest]) -> Iterator[Issue]:
    if m.kind != "Service":
        return
    spec = m.doc.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        return
    pods = [
        w
        for w in all_
        if pod_template(w) is not None
        and w.kind not in ("Job", "CronJob", "Pod")
        and map_selector_matches(selector, pod_labels(w))
    ]
    if not pods:
        return  # the references check reports a selector that selects nothing
    for i, port in enumerate(spec.get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        for w in pods:
            spec_ = (pod_template(w) or {}).get("spec") or {}
            declared = [p for _path, c in containers(spec_) for p in c.get("ports") or []]
            if isinstance(target, int):
                ok = any(p.get("containerPort") == target for p in declared)
            else:
                ok = any(p.get("name") == target for p in declared)
            if not ok:
                yield f"spec.ports[{i}].targetPort", f"{target!r} is not a container port of {w.ref}"


@rule(
    "NETPOL-MIXED-PEERS",
    Severity.WARNING,
    "kube-router (k3s's enforcer) names one address set per ingress rule and named port, hash:ip for "
    "selector peers and hash:net for ipBlocks: mixed, it stops syncing any policy after a restart",
)
def _mixed_peers(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    if m.kind != "NetworkPolicy":
        return
    for i, r in enumerate((m.doc.get("spec") or {}).get("ingress") or []):
        if not isinstance(r, dict):
            continue
        peers = [p for p in r.get("from") or [] if isinstance(p, dict)]
        ports = [p.get("port") for p in r.get("ports") or [] if isinstance(p, dict)]
        named = [p for p in ports if isinstance(p, str)]
        blocks = [p for p in peers if "ipBlock" in p]
        if named and blocks and len(blocks) < len(peers):
            yield (f"spec.ingress[{i}].from",
                   f"named port(s) {', '.join(named)} with both selector and ipBlock peers: list the "
                   "ipBlocks in a rule of their own (rules are OR'ed, so it admits the same)")


# --- Rules the peer linters have (README: "Compared with kube-score and kube-linter").

