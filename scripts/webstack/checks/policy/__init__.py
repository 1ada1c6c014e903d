"""Policy rules over one render: restricted Pod Security Standard, probes, resources, images, labels,
selectors, PDBs, Service and probe ports, env and ConfigMap secrets, StatefulSet Services and API
deprecations over the chart's whole kubeVersion range. Each rule has an id, a severity and a one-line
rationale.

A rule is waived per object with the annotation `webstack.io/waive: "RULE-ID: reason; OTHER-ID: reason"`.
A waived finding stays in the report as info, so waivers remain visible; a waiver without a reason is
itself an error, and one naming an unknown rule is a warning.

The rules live by theme (pss, workloads, parity: the checks that answer kube-score and kube-linter);
this module is the registry they add themselves to, and the check that runs them with the waivers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from webstack.manifests import (
    WAIVE_ANNOTATION,
    Manifest,
    containers,
    join,
    pod_template,
    pod_template_path,
    waivers,
)
from webstack.report import Finding, Severity

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
# The chart's kubeVersion constraint while check() runs (the API rules judge every minor in it).
_KUBE_RANGE: ContextVar[str | None] = ContextVar("kube_range", default=None)


def rule(rule_id: str, severity: Severity, rationale: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        RULES[rule_id] = Rule(rule_id, severity, rationale, fn)
        return fn

    return register


def pod_specs(m: Manifest) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(path of the pod spec, pod spec, pod securityContext) for a workload or Pod."""
    tpl = pod_template(m)
    if tpl is None:
        return
    spec = tpl.get("spec") or {}
    yield join(pod_template_path(m), "spec"), spec, spec.get("securityContext") or {}


def container_specs(m: Manifest) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(path, container, container securityContext, pod securityContext)."""
    for spec_path, spec, pod_sc in pod_specs(m):
        for cpath, c in containers(spec):
            yield join(spec_path, cpath), c, c.get("securityContext") or {}, pod_sc



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
                why = waived.get(r.id)  # a waived finding stays in the report, as information
                text, severity = (f"waived ({why}): {message}", Severity.INFO) if why else (
                    f"{message} — {r.rationale}", r.severity)
                findings.append(Finding(m.source, m.ref, path, r.id, text, severity, CHECK, context))
    return findings


# The rule modules register themselves on import; this order is the report's order.
from webstack.checks.policy import pss, workloads, parity  # noqa: E402,F401,I001
