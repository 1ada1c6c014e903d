"""The checks kube-score and kube-linter have that the rest did not: probe ports, identical probes,
duplicate env, secret-looking literals, headless StatefulSet Services, port names, API deprecations
over the chart's whole kubeVersion range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from webstack.checks.policy import _KUBE_RANGE, Issue, container_specs, rule
from webstack.manifests import (
    Manifest,
    join,
    map_selector_matches,
    pod_labels,
)
from webstack.report import Severity

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")
# IANA_SVC_NAME (RFC 6335): at most 15 characters of [a-z0-9-], at least one letter, no '-' at either end
# and no '--'. Kubernetes rejects any other container port name, and a named targetPort or probe port.
_IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")


def valid_port_name(name: str) -> bool:
    return bool(_IANA_SVC_NAME.match(name))


def _all_containers(m: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, c, _sc, _p in container_specs(m):
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


