"""Kubernetes API versions deprecated or removed, and the minors a chart's `kubeVersion` range admits.

The table follows the Kubernetes "Deprecated API Migration Guide" (kubernetes.io/docs/reference/using-api/
deprecation-guide/) and the release notes: `deprecated` is the first minor that warns, `removed` the first
that no longer serves the version. The policy rules API-REMOVED and API-DEPRECATED read it for every
minor of the chart's range, so a chart that says `>=1.30.0-0` hears about a removal in 1.32 even when
the gate only validates schemas for 1.30 and the latest release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ApiChange:
    api_version: str
    kinds: tuple[str, ...]  # empty: every kind of that group/version
    deprecated: str  # "1.25": the first minor that warns
    removed: str | None  # the first minor that no longer serves it; None: still served
    replacement: str

    def covers(self, api_version: str, kind: str) -> bool:
        return api_version == self.api_version and (not self.kinds or kind in self.kinds)


# columns: group/version, kinds, deprecated in, removed in ("-": still served), what to use
_TABLE = """
extensions/v1beta1                     DaemonSet,Deployment,ReplicaSet                  1.8   1.16  apps/v1
extensions/v1beta1                     NetworkPolicy                                    1.9   1.16  networking.k8s.io/v1
extensions/v1beta1                     PodSecurityPolicy                                1.11  1.16  Pod Security Admission
extensions/v1beta1                     Ingress                                          1.14  1.22  networking.k8s.io/v1
apps/v1beta1                           Deployment,DaemonSet,ReplicaSet,StatefulSet      1.9   1.16  apps/v1
apps/v1beta2                           Deployment,DaemonSet,ReplicaSet,StatefulSet      1.9   1.16  apps/v1
networking.k8s.io/v1beta1              Ingress,IngressClass                             1.19  1.22  networking.k8s.io/v1
admissionregistration.k8s.io/v1beta1   MutatingWebhookConfiguration,ValidatingWebhookConfiguration 1.16 1.22 admissionregistration.k8s.io/v1
apiextensions.k8s.io/v1beta1           CustomResourceDefinition                         1.16  1.22  apiextensions.k8s.io/v1
apiregistration.k8s.io/v1beta1         APIService                                       1.19  1.22  apiregistration.k8s.io/v1
authentication.k8s.io/v1beta1          TokenReview                                      1.19  1.22  authentication.k8s.io/v1
authorization.k8s.io/v1beta1           LocalSubjectAccessReview,SelfSubjectAccessReview,SubjectAccessReview 1.19 1.22 authorization.k8s.io/v1
certificates.k8s.io/v1beta1            CertificateSigningRequest                        1.19  1.22  certificates.k8s.io/v1
coordination.k8s.io/v1beta1            Lease                                            1.19  1.22  coordination.k8s.io/v1
rbac.authorization.k8s.io/v1beta1      ClusterRole,ClusterRoleBinding,Role,RoleBinding  1.17  1.22  rbac.authorization.k8s.io/v1
scheduling.k8s.io/v1beta1              PriorityClass                                    1.14  1.22  scheduling.k8s.io/v1
storage.k8s.io/v1beta1                 CSIDriver,CSINode,StorageClass,VolumeAttachment  1.19  1.22  storage.k8s.io/v1
batch/v1beta1                          CronJob                                          1.21  1.25  batch/v1
discovery.k8s.io/v1beta1               EndpointSlice                                    1.21  1.25  discovery.k8s.io/v1
events.k8s.io/v1beta1                  Event                                            1.22  1.25  events.k8s.io/v1
autoscaling/v2beta1                    HorizontalPodAutoscaler                          1.22  1.25  autoscaling/v2
policy/v1beta1                         PodDisruptionBudget                              1.21  1.25  policy/v1
policy/v1beta1                         PodSecurityPolicy                                1.21  1.25  Pod Security Admission
node.k8s.io/v1beta1                    RuntimeClass                                     1.20  1.25  node.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta1   FlowSchema,PriorityLevelConfiguration            1.23  1.26  flowcontrol.apiserver.k8s.io/v1
autoscaling/v2beta2                    HorizontalPodAutoscaler                          1.23  1.26  autoscaling/v2
storage.k8s.io/v1beta1                 CSIStorageCapacity                               1.24  1.27  storage.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta2   FlowSchema,PriorityLevelConfiguration            1.26  1.29  flowcontrol.apiserver.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta3   FlowSchema,PriorityLevelConfiguration            1.29  1.32  flowcontrol.apiserver.k8s.io/v1
v1                                     ComponentStatus                                  1.19  -     the components' health endpoints
v1                                     Endpoints                                        1.33  -     discovery.k8s.io/v1 EndpointSlice
"""  # noqa: E501 (a table reads best one row a line)
API_CHANGES: tuple[ApiChange, ...] = tuple(
    ApiChange(api, tuple(kinds.split(",")), dep, None if rem == "-" else rem, use)
    for api, kinds, dep, rem, use in (line.split(None, 4) for line in _TABLE.strip().splitlines())
)

# Minors are enumerated up to this one for ranges without an upper bound: past the newest release the
# table knows of, nothing more can be said.
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$")
_TERM = re.compile(r"^(>=|=>|<=|=<|!=|>|<|=|~>|~|\^)?\s*(\S+)$")


def _minor(text: str) -> tuple[int, int]:
    a, b = text.split(".")[:2]
    return int(a), int(b)


def newest_known_minor() -> tuple[int, int]:
    from webstack.checks import kubernetes

    known = [_minor(v) for c in API_CHANGES for v in (c.deprecated, c.removed) if v]
    return max([*known, _minor(kubernetes.available_versions()[-1])])


def _parse(text: str) -> tuple[int, int | None, int | None]:
    m = _VERSION.match(text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    major = int(m.group(1))
    minor = int(m.group(2)) if m.group(2) and m.group(2).isdigit() else None
    patch = int(m.group(3)) if m.group(3) and m.group(3).isdigit() else None
    return major, minor, patch


def _cmp(v: tuple[int, int, int], op: str, target: str) -> bool:
    major, minor, patch = _parse(target)
    if minor is None or (patch is None and op in ("", "=", "!=")):
        # an x-range (1.x, 1.30, 1.30.x): equality means "inside it"
        inside = v[0] == major and (minor is None or v[1] == minor)
        if op in ("", "="):
            return inside
        if op == "!=":
            return not inside
        lo = (major, minor or 0, 0)
        hi = (major + 1, 0, 0) if minor is None else (major, minor + 1, 0)
        return {">": v >= hi, ">=": v >= lo, "<": v < lo, "<=": v < hi}[op]
    t = (major, minor, patch or 0)
    if op in ("~", "~>"):
        return t <= v < (major, minor + 1, 0)
    if op == "^":
        return t <= v < ((major + 1, 0, 0) if major else (0, minor + 1, 0))
    return {"": v == t, "=": v == t, "!=": v != t, ">": v > t, ">=": v >= t, "<": v < t, "<=": v <= t,
            "=>": v >= t, "=<": v <= t}[op]


def _satisfies(v: tuple[int, int, int], constraint: str) -> bool:
    """Masterminds/semver constraint semantics (what Helm applies to kubeVersion); pre-release tags such
    as the customary `-0` are ignored, which is what they are there for."""
    for alternative in constraint.split("||"):
        text = alternative.strip()
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
        terms = [f">={hyphen.group(1)}", f"<={hyphen.group(2)}"] if hyphen else [
            t for t in re.split(r"[\s,]+", re.sub(r"(>=|=>|<=|=<|!=|~>|[<>=~^])\s+", r"\1", text)) if t
        ]
        ok = True
        for term in terms:
            m = _TERM.match(term)
            if not m:
                raise ValueError(f"cannot read the constraint {constraint!r}")
            if not _cmp(v, m.group(1) or "", m.group(2)):
                ok = False
                break
        if ok:
            return True
    return False


def minors_in_range(constraint: str) -> list[str]:
    """Every Kubernetes 1.x minor with at least one patch release inside `constraint`, oldest first,
    up to the newest minor this module knows of."""
    newest = newest_known_minor()
    out = []
    for minor in range(0, newest[1] + 1):
        if any(_satisfies((1, minor, patch), constraint) for patch in (0, 999)):
            out.append(f"1.{minor}")
    return out


def chart_kube_range(chart_dir: Path) -> str | None:
    """The `kubeVersion` constraint of a chart's Chart.yaml, or None when it sets none."""
    path = Path(chart_dir) / "Chart.yaml"
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    value = doc.get("kubeVersion")
    return str(value) if value else None


def changes_for(api_version: str, kind: str) -> list[ApiChange]:
    return [c for c in API_CHANGES if c.covers(api_version, kind)]
