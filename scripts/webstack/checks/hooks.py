"""Hook ordering: what a Helm hook (or a release resource) uses must exist when Helm creates it.

Helm's phases, as helm v4 runs them (pkg/action/hooks.go): an operation runs its pre-hooks one by
one, sorted by weight, then name, then kind install order (each created and waited for before the
next), then creates or updates the release resources, then runs its post-hooks the same way.
`hook-succeeded` hooks are deleted only once every hook of their phase has succeeded. So:

- install: nothing exists before; pre-install hooks see only the pre-install hooks before them;
  the release resources see them too (minus `hook-succeeded` ones); post-install hooks see all that.
- upgrade and rollback: the release's resources exist from the previous revision (assumed to have
  the same objects), so a pre-upgrade migration Job using the release's Secret is fine there.
- delete (uninstall): pre-delete hooks see the resources; post-delete hooks run after they are gone
  (only `helm.sh/resource-policy: keep` ones stay).
- test: after install, everything is there.

A hook whose pod uses (env, envFrom, volumes, projected volumes, serviceAccountName) an object the
render makes but that does not exist at that moment is a HOOK-ORDER error: on that operation the
pod cannot start (missing ConfigMap, Secret or PVC) or is not even admitted (missing
ServiceAccount), and Helm waits on it until the timeout. Objects the render does not make are the
references check's business; optional references are skipped. imagePullSecrets only warn: a
public image pulls without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack.checks.references import pod_refs
from webstack.manifests import Manifest, join, pod_template, pod_template_path
from webstack.report import Finding, Severity

CHECK = "hooks"
HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"
DELETE_POLICY = "helm.sh/hook-delete-policy"
RESOURCE_POLICY = "helm.sh/resource-policy"
EVENTS = {"pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade",
          "pre-rollback", "post-rollback", "test", "test-success"}
# helm's InstallOrder (pkg/release/v1/util/kind_sorter.go): hooks are pre-sorted by it, the
# weight/name sort is stable, so it breaks ties between hooks of equal weight and name.
INSTALL_ORDER = (
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)
OPERATIONS = ("install", "upgrade", "rollback", "delete")


@dataclass(frozen=True)
class Hook:
    m: Manifest
    events: frozenset[str]
    weight: int
    delete: frozenset[str]

    @property
    def order(self) -> tuple[int, str, int]:
        kind = INSTALL_ORDER.index(self.m.kind) if self.m.kind in INSTALL_ORDER else len(INSTALL_ORDER)
        return self.weight, self.m.name, kind

    def label(self, event: str) -> str:
        return f"{event} hook {self.m.ref} (weight {self.weight})"


def parse_hook(m: Manifest) -> Hook | None:
    """The hook a manifest declares, None for a release resource (or a hook of an unknown event,
    which helm skips altogether)."""
    raw = m.annotations.get(HOOK)
    if raw is None:
        return None
    events = frozenset("test" if e == "test-success" else e
                       for e in (p.strip().lower() for p in str(raw).split(",")) if e)
    if not events or not events <= EVENTS | {"test"}:
        return None
    try:
        weight = int(str(m.annotations.get(WEIGHT, "0")).strip())
    except ValueError:
        weight = 0  # helm's strconv.Atoi failing: 0
    policies = frozenset(p.strip().lower() for p in str(m.annotations.get(DELETE_POLICY, "")).split(",")
                         if p.strip())
    return Hook(m, events, weight, policies or frozenset({"before-hook-creation"}))


def _uses(m: Manifest) -> list[tuple[str, str, str, Severity]]:
    """(path, kind, name, severity) of every object this manifest's pods need at creation."""
    tpl = pod_template(m)
    if tpl is None:
        return []
    spec_path = join(pod_template_path(m), "spec")
    out = []
    for path, kind, name, _key in pod_refs(spec_path, tpl.get("spec") or {}):
        sev = Severity.WARNING if ".imagePullSecrets[" in f".{path}" else Severity.ERROR
        out.append((path, kind, name, sev))
    return out


def check(manifests: list[Manifest], context: str) -> list[Finding]:
    hooks: dict[str, Hook] = {}
    resources: dict[str, Manifest] = {}
    skipped: set[str] = set()
    for m in manifests:
        if (h := parse_hook(m)) is not None:
            hooks[m.ref] = h
        elif HOOK in m.annotations:
            skipped.add(m.ref)
        else:
            resources[m.ref] = m
    rendered = set(hooks) | set(resources) | skipped
    findings: dict[tuple[str, str, str], Finding] = {}

    def judge(m: Manifest, who: str, existing: set[str], why_missing: dict[str, str]) -> None:
        for path, kind, name, sev in _uses(m):
            ref = f"{kind}/{name}"
            if ref not in rendered or ref in existing or ref == m.ref:
                continue
            key = (m.ref, path, ref)
            if key not in findings:
                findings[key] = Finding(
                    m.source, m.ref, path, "HOOK-ORDER",
                    f"{who} uses {ref}, which {why_missing.get(ref) or _why(ref, hooks, resources, skipped)}",
                    sev, CHECK, context)

    for op in OPERATIONS:
        pre, post = _phase(hooks, f"pre-{op}"), _phase(hooks, f"post-{op}")
        # after an install, its hooks stay unless deleted on success (before-hook-creation deletes a
        # hook only right before that same hook is made again)
        persisting = {r for r, h in hooks.items() if h.events & {"pre-install", "post-install"}
                      and "hook-succeeded" not in h.delete}
        existing: set[str] = set(resources) | persisting if op != "install" else set()
        why: dict[str, str] = {r: f"is a release resource: on {op}, Helm creates release resources only "
                                  f"after the pre-{op} hooks" for r in resources} if op == "install" else {}
        for phase, phase_hooks in ((f"pre-{op}", pre), (f"post-{op}", post)):
            if phase == f"post-{op}":
                if op == "install":  # the release resources, created between the phases
                    for r in resources.values():
                        judge(r, f"release resource {r.ref} (created on install after the pre-install hooks)",
                              existing | set(resources), _hook_why(hooks, existing, "install"))
                    existing |= set(resources)
                elif op == "delete":
                    kept = {r for r, m in resources.items()
                            if str(m.annotations.get(RESOURCE_POLICY, "")).strip() == "keep"}
                    gone = set(resources) - kept
                    existing -= gone
                    why |= {r: "is a release resource: Helm deletes it before the post-delete hooks run"
                            for r in gone}
            for h in phase_hooks:
                later = {o.m.ref: f"is a {phase} hook that sorts after it (weight {o.weight}; hooks run "
                                  "by weight, then name)" for o in phase_hooks if o.order > h.order}
                judge(h.m, h.label(phase), existing, why | later)
                existing.add(h.m.ref)
            existing -= {h.m.ref for h in phase_hooks if "hook-succeeded" in h.delete}
    # test hooks run after install: release resources and the test hooks before them exist
    tests = _phase(hooks, "test")
    existing = set(resources) | {r for r, h in hooks.items() if h.events & {"pre-install", "post-install"}
                                 and "hook-succeeded" not in h.delete}
    for h in tests:
        judge(h.m, h.label("test"), existing, {})
        existing.add(h.m.ref)
    return list(findings.values())


def _phase(hooks: dict[str, Hook], event: str) -> list[Hook]:
    return sorted((h for h in hooks.values() if event in h.events), key=lambda h: h.order)


def _hook_why(hooks: dict[str, Hook], existing: set[str], op: str) -> dict[str, str]:
    out = {}
    for ref, h in hooks.items():
        if ref in existing:
            continue
        if f"pre-{op}" in h.events and "hook-succeeded" in h.delete:
            out[ref] = (f"is a pre-{op} hook with delete policy hook-succeeded: Helm deletes it once the "
                        f"pre-{op} hooks succeed, before it creates the release resources")
    return out


def _why(ref: str, hooks: dict[str, Hook], resources: dict[str, Manifest], skipped: set[str]) -> str:
    if ref in skipped:
        return "is a hook of an unknown event: Helm never creates it"
    if ref in hooks:
        return f"is only a hook of {', '.join(sorted(hooks[ref].events))}: it does not exist at that moment"
    return "does not exist at that moment"
