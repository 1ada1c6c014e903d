"""The restricted Pod Security Standard, and a read-only root filesystem."""

from __future__ import annotations

from collections.abc import Iterator

from webstack.checks.policy import Issue, container_specs, pod_specs, rule
from webstack.manifests import (
    Manifest,
    join,
)
from webstack.report import Severity, yaml_value

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


@rule("PSS-RUN-AS-NON-ROOT", Severity.ERROR, "restricted PSS: containers must not run as root (uid 0)")
def _non_root(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, pod_sc in container_specs(m):
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            yield join(path, "securityContext.runAsNonRoot"), "runAsNonRoot must be true (pod or container)"
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            yield join(path, "securityContext.runAsUser"), "runAsUser must not be 0"


@rule("PSS-PRIVILEGE-ESCALATION", Severity.ERROR, "restricted PSS: setuid binaries must not gain privileges")
def _escalation(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in container_specs(m):
        if sc.get("allowPrivilegeEscalation") is not False:
            yield join(path, "securityContext.allowPrivilegeEscalation"), "must be false"


@rule(
    "PSS-CAPABILITIES", Severity.ERROR, "restricted PSS: drop ALL capabilities, add at most NET_BIND_SERVICE"
)
def _capabilities(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in container_specs(m):
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield join(path, "securityContext.capabilities.drop"), "must include ALL"
        extra = [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]
        if extra:
            yield join(path, "securityContext.capabilities.add"), f"adds {', '.join(extra)}"


@rule("PSS-SECCOMP", Severity.ERROR, "restricted PSS: a seccomp profile (RuntimeDefault) limits syscalls")
def _seccomp(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, pod_sc in container_specs(m):
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
    for spec_path, spec, _sc in pod_specs(m):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                yield join(spec_path, key), "must not be true"
    for path, c, sc, _p in container_specs(m):
        if sc.get("privileged"):
            yield join(path, "securityContext.privileged"), "must not be true"
        for i, port in enumerate(c.get("ports") or []):
            if port.get("hostPort"):
                yield join(path, f"ports[{i}].hostPort"), "host ports are not allowed"


@rule("PSS-VOLUME-TYPES", Severity.ERROR, "restricted PSS: only non-host volume types")
def _volumes(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for spec_path, spec, _sc in pod_specs(m):
        for i, vol in enumerate(spec.get("volumes") or []):
            kinds = [k for k in vol if k != "name"]
            bad = [k for k in kinds if k not in ALLOWED_VOLUMES]
            if bad:
                yield join(spec_path, f"volumes[{i}]"), f"volume type {bad[0]} is not allowed"


@rule("SEC-READ-ONLY-ROOT-FS", Severity.WARNING, "a read-only root filesystem stops writes to the image")
def _ro_root(m: Manifest, _: list[Manifest]) -> Iterator[Issue]:
    for path, _c, sc, _p in container_specs(m):
        if sc.get("readOnlyRootFilesystem") is not True:
            yield join(path, "securityContext.readOnlyRootFilesystem"), "should be true"


