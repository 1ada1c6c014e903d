"""Policy rules over one render: restricted Pod Security Standard, probes, resources, images, labels,
selectors, PDBs, Service and probe ports, env and ConfigMap secrets, StatefulSet Services and API
deprecations over the chart's whole kubeVersion range. Each rule has an id, a severity and a one-line
rationale.

A rule is waived per object with the annotation `webstack.io/waive: "RULE-ID: reason; OTHER-ID: reason"`.
A waived finding stays in the report as info, so waivers remain visible; a waiver without a reason is
itself an error, and one naming an unknown rule is a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from webstack.manifests import (
    LONG_RUNNING_KINDS,
    WAIVE_ANNOTATION,
    Manifest,
    containers,
    join,
    map_selector_matches,
    pod_labels,
    pod_template,
    pod_template_path,
    selector_matches,
    waivers,
)
from webstack.report import Finding, Severity, yaml_value

CHECK = "policy"
Issue = tuple[str, str]  # (path inside the object, message)
RuleFn = Callable[[Manifest, list[Manifest]], Iterator[Issue]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    rationale: str
    fn: RuleFn


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, rationale: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        RULES[rule_id] = Rule(rule_id, severity, rationale, fn)
        return fn

    return register


def _pods(m: Manifest) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(path of the pod spec, pod spec, pod securityContext) for a workload or Pod."""
    tpl = pod_template(m)
    if tpl is None:
        return
    spec = tpl.get("spec") or {}
    yield join(pod_template_path(m), "spec"), spec, spec.get("securityContext") or {}


def _containers(m: Manifest) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(path, container, container securityContext, pod securityContext)."""
    for spec_path, spec, pod_sc in _pods(m):
        for cpath, c in containers(spec):
            yield join(spec_path, cpath), c, c.get("securityContext") or {}, pod_sc


ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
MUTABLE_LABELS = ("helm.sh/chart", "app.kubernetes.io/version")


@rule("PSS-RUN-AS-NON-ROOT", Severity.ERROR, "restricted PSS: containers must not run as root (uid 0)")
def _non_root(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, pod_sc in _containers(m):
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            yield join(path, "securityContext.runAsNonRoot"), "runAsNonRoot must be true (pod or container)"
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            yield join(path, "securityContext.runAsUser"), "runAsUser must not be 0"


@rule("PSS-PRIVILEGE-ESCALATION", Severity.ERROR, "restricted PSS: setuid binaries must not gain privileges")
def _escalation(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in _containers(m):
        if sc.get("allowPrivilegeEscalation") is not False:
            yield join(path, "securityContext.allowPrivilegeEscalation"), "must be false"


@rule(
    "PSS-CAPABILITIES", Severity.ERROR, "restricted PSS: drop ALL capabilities, add at most NET_BIND_SERVICE"
)
def _capabilities(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in _containers(m):
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield join(path, "securityContext.capabilities.drop"), "must include ALL"
        extra = [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            yield join(path, "securityContext.capabilities.add"), f"adds {', '.join(extra)}"


@rule("PSS-SECCOMP", Severity.ERROR, "restricted PSS: a seccomp profile (RuntimeDefault) limits syscalls")
def _seccomp(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, pod_sc in _containers(m):
        prof = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if prof not in ("RuntimeDefault", "Localhost"):
            yield (
                join(path, "securityContext.seccompProfile.type"),
                f"must be RuntimeDefault or Localhost (pod or container), is {yaml_value(prof)}",
            )


@rule(
    "PSS-HOST-AND-PRIVILEGED",
    Severity.ERROR,
    "baseline PSS: no privileged containers, host namespaces or ports",
)
def _host(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for spec_path, spec, _sc in _pods(m):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                yield join(spec_path, key), "must not be true"
    for path, c, sc, _p in _containers(m):
        if sc.get("privileged"):
            yield join(path, "securityContext.privileged"), "must not be true"
        for i, port in enumerate(c.get("ports") or []):
            if port.get("hostPort"):
                yield join(path, f"ports[{i}].hostPort"), "host ports are not allowed"


@rule("PSS-VOLUME-TYPES", Severity.ERROR, "restricted PSS: only non-host volume types")
def _volumes(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for spec_path, spec, _sc in _pods(m):
        for i, vol in enumerate(spec.get("volumes") or []):
            kinds = [k for k in vol if k != "name"]
            bad = [k for k in kinds if k not in ALLOWED_VOLUMES]
            if bad:
                yield join(spec_path, f"volumes[{i}]"), f"volume type {bad[0]} is not allowed"


@rule("SEC-READ-ONLY-ROOT-FS", Severity.WARNING, "a read-only root filesystem stops writes to the image")
def _ro_root(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in _containers(m):
        if sc.get("readOnlyRootFilesystem") is not True:
            yield join(path, "securityContext.readOnlyRootFilesystem"), "should be true"


def _app_containers(m: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    if m.kind not in LONG_RUNNING_KINDS:
        return
    for path, c, _sc, _p in _containers(m):
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
    for path, c, _sc, _p in _containers(m):
        req = (c.get("resources") or {}).get("requests") or {}
        missing = [r for r in ("cpu", "memory") if r not in req]
        if missing:
            yield join(path, "resources.requests"), f"no {' and '.join(missing)} request"


@rule("RESOURCES-LIMITS", Severity.WARNING, "a memory limit keeps one pod from starving its node")
def _limits(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c, _sc, _p in _containers(m):
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
    for path, c, _sc, _p in _containers(m):
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
    for path, c, _sc, _p in _containers(m):
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


# --- Rules the peer linters have (README: "Compared with kube-score and kube-linter").

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")
# IANA_SVC_NAME (RFC 6335): at most 15 characters of [a-z0-9-], at least one letter, no '-' at either end
# and no '--'. Kubernetes rejects any other container port name, and a named targetPort or probe port.
_IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")


def valid_port_name(name: str) -> bool:
    return bool(_IANA_SVC_NAME.match(name))


def _all_containers(m: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, c, _sc, _p in _containers(m):
        yield path, c


@rule(
    "PROBE-PORT",
    Severity.ERROR,
    "a probe on a port the container does not expose fails (named) or checks something else (numbered)",
)
def _probe_port(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _all_containers(m):
        declared = c.get("ports") or []
        for probe in PROBES:
            spec = c.get(probe) or {}
            for handler in ("httpGet", "tcpSocket", "grpc"):
                if handler not in (spec or {}) or "port" not in (spec[handler] or {}):
                    continue
                port = spec[handler]["port"]
                if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
                    ok = any(p.get("containerPort") == int(port) for p in declared)
                    what = f"port {port} is not a containerPort"
                else:
                    ok = any(p.get("name") == port for p in declared)
                    what = f"no container port is named {port!r}"
                if not ok:
                    yield join(path, probe, handler, "port"), f"{what} of container {c.get('name')!r}"


@rule(
    "PROBE-LIVENESS-NOT-READINESS",
    Severity.WARNING,
    "a liveness probe that repeats the readiness probe restarts pods that are only busy or cut off",
)
def _probe_identical(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _all_containers(m):
        live, ready = c.get("livenessProbe") or {}, c.get("readinessProbe") or {}
        handler = next((h for h in _HANDLERS if h in live), None)
        if handler and handler in ready and live[handler] == ready[handler]:
            yield join(path, "livenessProbe", handler), f"same {handler} as readinessProbe"


@rule("ENV-DUPLICATE", Severity.ERROR, "of two env entries with one name the last silently wins")
def _env_duplicate(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _all_containers(m):
        seen: set[str] = set()
        for i, env in enumerate(c.get("env") or []):
            name = env.get("name")
            if name in seen:
                yield join(path, f"env[{i}].name"), f"{name!r} is set more than once"
            seen.add(name)


# Names that announce a credential: PASSWORD, DB_PASSWD, API_TOKEN, CLIENT_SECRET, STRIPE_API_KEY,
# SECRET_KEY_BASE, KEY. KEY alone counts as a last word only: CACHE_KEY_PREFIX or MONKEY are no secrets.
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|"
    r"(API|ACCESS|PRIVATE|SIGNING|ENCRYPTION|MASTER)[_.-]?KEY|(^|[_.-])KEY$",
    re.IGNORECASE,
)
# ...unless the name says the value is where the secret lives, not the secret.
_REFERENCE_NAME = re.compile(r"[_.-](FILE|PATH|DIR|REF|NAME|ID|SECRET_NAME|KEY_NAME)$", re.IGNORECASE)
_SECRET_VALUES = (
    (re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(r"(?<![A-Za-z0-9])xox[abpr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
)
# `password = hunter2` / `token: abc` lines inside a config file held by a ConfigMap
_SECRET_LINE = re.compile(
    r"^\s*[\w.-]*(password|passwd|secret|token|api[_-]?key)[\w.-]*\s*[=:]\s*[\"']?([^\s\"'#;$]{1,})",
    re.IGNORECASE | re.MULTILINE,
)


def secret_literal(name: str, value: Any) -> str | None:
    """Why `name: value` looks like a credential written in clear, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    for pattern, what in _SECRET_VALUES:
        if pattern.search(value):
            return f"the value is {what}"
    if "\n" not in value.strip():
        if (
            _SECRET_NAME.search(name)
            and not _REFERENCE_NAME.search(name)
            and not value.startswith(("/", "$(", "${"))
            and value.lower() not in ("true", "false", "yes", "no", "none", "null")
        ):
            return f"{name!r} names a credential and holds a literal value"
        return None
    if m := _SECRET_LINE.search(value):
        return f"line {value[: m.start()].count(chr(10)) + 1} sets {m.group(1)!r} to a literal"
    return None


@rule(
    "SEC-SECRET-IN-ENV",
    Severity.ERROR,
    "a credential in a literal env value is readable by anyone who can read the workload; use secretKeyRef",
)
def _env_secret(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _all_containers(m):
        for i, env in enumerate(c.get("env") or []):
            if "value" in env and (why := secret_literal(str(env.get("name", "")), env["value"])):
                yield join(path, f"env[{i}].value"), why


@rule(
    "SEC-SECRET-IN-CONFIGMAP",
    Severity.ERROR,
    "ConfigMaps are not secret (no encryption at rest, readable with configmap RBAC); use a Secret",
)
def _configmap_secret(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    if m.kind != "ConfigMap":
        return
    for key, value in (m.doc.get("data") or {}).items():
        if why := secret_literal(str(key), value):
            yield f"data.{key}", why


@rule(
    "STATEFULSET-HEADLESS-SERVICE",
    Severity.ERROR,
    "a StatefulSet's pods get stable DNS names only from a headless Service that selects them",
)
def _statefulset_service(m: Manifest, all_: list[Manifest]) -> Iterator[Issue]:
    if m.kind != "StatefulSet":
        return
    name = (m.doc.get("spec") or {}).get("serviceName")
    if not name:
        yield "spec.serviceName", "not set: the pods get no stable network identity"
        return
    svc = next((s for s in all_ if s.kind == "Service" and s.name == name), None)
    if svc is None:
        return  # the references check reports a Service that is not in the render (or declared external)
    spec = svc.doc.get("spec") or {}
    if spec.get("clusterIP") != "None":
        yield "spec.serviceName", f"{svc.ref} is not headless (clusterIP: None)"
    if not map_selector_matches(spec.get("selector"), pod_labels(m)):
        yield "spec.serviceName", f"{svc.ref} does not select the pods of {m.ref}"


@rule(
    "PORT-NAME-VALID",
    Severity.ERROR,
    "Kubernetes rejects port names that are not IANA_SVC_NAME (15 chars of a-z, 0-9, '-')",
)
def _port_names(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, c in _all_containers(m):
        for i, port in enumerate(c.get("ports") or []):
            if "name" in port and not valid_port_name(str(port["name"])):
                yield join(path, f"ports[{i}].name"), f"{port['name']!r} is not a valid port name"
        for probe in PROBES:
            for handler in ("httpGet", "tcpSocket"):
                port = ((c.get(probe) or {}).get(handler) or {}).get("port")
                if isinstance(port, str) and not port.isdigit() and not valid_port_name(port):
                    yield join(path, probe, handler, "port"), f"{port!r} is not a valid port name"
    if m.kind == "Service":
        for i, port in enumerate((m.doc.get("spec") or {}).get("ports") or []):
            target = port.get("targetPort")
            if isinstance(target, str) and not target.isdigit() and not valid_port_name(target):
                yield f"spec.ports[{i}].targetPort", f"{target!r} is not a valid port name"


# The chart's kubeVersion constraint, set by check() for the API rules (None: the oldest supported on).
_KUBE_RANGE: ContextVar[str | None] = ContextVar("kube_range", default=None)


def default_kube_range() -> str:
    from webstack.checks import kubernetes

    return f">={kubernetes.OLDEST_SUPPORTED}.0-0"


def _api_findings(m: Manifest) -> tuple[list[Issue], list[Issue]]:
    """(removed, deprecated) issues for `m` over every minor of the range."""
    from webstack.checks import apis

    constraint = _KUBE_RANGE.get() or default_kube_range()
    minors = apis.minors_in_range(constraint)
    if not minors:
        return [], []
    newest = apis._minor(minors[-1])
    removed: list[Issue] = []
    deprecated: list[Issue] = []
    for change in apis.changes_for(m.api_version, m.kind):
        if change.removed and apis._minor(change.removed) <= newest:
            first = max(minors[0], change.removed, key=apis._minor)
            removed.append((
                "apiVersion",
                f"{m.api_version} {m.kind} is not served from Kubernetes {change.removed} on, and "
                f"the chart's kubeVersion {constraint!r} admits {first}; use {change.replacement}",
            ))
        elif apis._minor(change.deprecated) <= newest:
            first = max(minors[0], change.deprecated, key=apis._minor)
            when = f", removed in {change.removed}" if change.removed else ""
            deprecated.append((
                "apiVersion",
                f"{m.api_version} {m.kind} is deprecated from Kubernetes {change.deprecated}{when}, and the "
                f"chart's kubeVersion {constraint!r} admits {first}; use {change.replacement}",
            ))
    return removed, deprecated


@rule(
    "API-REMOVED",
    Severity.ERROR,
    "an API version that a minor of the chart's kubeVersion range does not serve fails to install there",
)
def _api_removed(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    yield from _api_findings(m)[0]


@rule(
    "API-DEPRECATED",
    Severity.WARNING,
    "a deprecated API version warns on every apply and disappears in a later minor",
)
def _api_deprecated(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    yield from _api_findings(m)[1]


def check(manifests: list[Manifest], context: str, kube_range: str | None = None) -> list[Finding]:
    """Every rule over one render; `kube_range` is the chart's kubeVersion constraint (see
    apis.chart_kube_range), by default every minor from the oldest supported on."""
    token = _KUBE_RANGE.set(kube_range)
    try:
        return _check(manifests, context)
    finally:
        _KUBE_RANGE.reset(token)


def _check(manifests: list[Manifest], context: str) -> list[Finding]:
    findings = []
    for m in manifests:
        waived = waivers(m)
        for rule_id, reason in waived.items():
            if not reason:
                findings.append(
                    Finding(
                        m.source,
                        m.ref,
                        f"metadata.annotations.{WAIVE_ANNOTATION}",
                        "WAIVER-REASON",
                        f"waiver of {rule_id} has no reason (write `{rule_id}: <why>`)",
                        Severity.ERROR,
                        CHECK,
                        context,
                    )
                )
            elif rule_id not in RULES:
                findings.append(
                    Finding(
                        m.source,
                        m.ref,
                        f"metadata.annotations.{WAIVE_ANNOTATION}",
                        "WAIVER-UNKNOWN-RULE",
                        f"waives unknown rule {rule_id!r}",
                        Severity.WARNING,
                        CHECK,
                        context,
                    )
                )
        for r in RULES.values():
            for path, message in r.fn(m, manifests):
                if waived.get(r.id):
                    findings.append(
                        Finding(
                            m.source,
                            m.ref,
                            path,
                            r.id,
                            f"waived ({waived[r.id]}): {message}",
                            Severity.INFO,
                            CHECK,
                            context,
                        )
                    )
                else:
                    findings.append(
                        Finding(
                            m.source,
                            m.ref,
                            path,
                            r.id,
                            f"{message} — {r.rationale}",
                            r.severity,
                            CHECK,
                            context,
                        )
                    )
    return findings
