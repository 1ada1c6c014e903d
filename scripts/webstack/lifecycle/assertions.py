"""The lifecycle's judgements, as pure functions over snapshots and values: no cluster, no I/O.

Each returns the problems it finds (strings naming the object and what is wrong; none when all
holds), so the steps only gather the state, call these, and fail with what they return.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from webstack.cluster.release_state import HOOK, Snapshot


def checksums(template: Mapping[str, Any]) -> dict[str, str]:
    """A pod template's checksum/* annotations (what moves when the config it hashes changes)."""
    return {k: v for k, v in template["annotations"].items() if k.startswith("checksum/")}


def rolled_workloads(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """(problems, rolled): a workload whose template changed must have replaced its pods.

    Rolled workloads are named with why they rolled (the checksums that moved, the new image);
    an unchanged template is neither: its pods rightly stay.
    """
    problems, rolled = [], []
    for wl, tpl in after.templates.items():
        old = before.templates.get(wl)
        if old is None:
            continue
        sums_old, sums_new = checksums(old), checksums(tpl)
        if tpl == old:
            continue  # unchanged template: the pods rightly stay
        if before.pods.get(wl) and before.pods.get(wl, set()) & after.pods.get(wl, set()):
            problems.append(f"{wl}: template changed but old pods still run")
        else:
            why = [k for k in sums_new if sums_new[k] != sums_old.get(k)]
            if tpl["images"] != old["images"]:
                why.append("image " + ", ".join(i.rsplit("/", 1)[-1] for i in tpl["images"]))
            rolled.append(f"{wl} ({', '.join(why) or 'pod template'})")
    return problems, rolled


def upgrade_problems(
    before: Snapshot, after: Snapshot, *, new_version: str | None, config_changed: bool
) -> tuple[list[str], list[str]]:
    """(problems, rolled) of an upgrade, from the snapshots taken before and after it.

    new_version: the appVersion the upgrade moved to when it bumped it (some image must carry it
    as its tag), None when it did not. config_changed: the upgrade changed values, so some
    checksum/* annotation must have moved. Generated Secrets and claims must stay as they were.
    """
    problems, rolled = rolled_workloads(before, after)
    if new_version is not None and not any(
        img.endswith(f":{new_version}") for tpl in after.templates.values() for img in tpl["images"]
    ):
        problems.append(
            f"no workload runs an image tagged {new_version} (the new appVersion): "
            "does the image tag default to the chart's appVersion?"
        )
    changed_sums = [
        wl
        for wl, tpl in after.templates.items()
        if wl in before.templates and checksums(tpl) != checksums(before.templates[wl])
    ]
    if config_changed and not changed_sums:
        problems.append("the config change moved no checksum/* pod annotation, so no pod rolled for it")
    if after.secrets != before.secrets:
        changed = [s for s in after.secrets if after.secrets[s] != before.secrets.get(s)]
        problems.append(f"generated Secrets changed on upgrade: {', '.join(changed)}")
    if after.pvcs != before.pvcs:
        problems.append(f"PVCs changed: {sorted(set(before.pvcs.items()) ^ set(after.pvcs.items()))}")
    return problems, rolled


def helm_test_outcome(output: str) -> tuple[list[str], list[str]]:
    """(test pods, problems) from `helm test`'s output; no test pod at all is a problem, not a pass.

    helm prints `TEST SUITE: None` when the chart has no test hook, and per test pod a
    `TEST SUITE: <name>` line followed by its `Phase: <phase>`.
    """
    suites: list[str] = []
    phases: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "TEST SUITE" and value != "None":
            suites.append(value)
        elif key == "Phase" and suites:
            phases[suites[-1]] = value
    if not suites:
        return [], ["helm test found no test pod: the chart has no `helm.sh/hook: test` object, "
                    "so nothing was tested"]
    return suites, [f"test pod {s}: phase {phases.get(s, 'not reported')}, expected Succeeded"
                    for s in suites if phases.get(s) != "Succeeded"]


def rollback_problems(first: Snapshot, now: Snapshot) -> list[str]:
    """After rolling back to revision 1: its workload templates, Secrets and claims, all as they were."""
    if not first.templates:
        return ["revision 1 had no workload to compare with: nothing was checked"]
    problems = [
        f"{wl}: {now.templates.get(wl)} != revision 1's {tpl}"
        for wl, tpl in first.templates.items()
        if now.templates.get(wl) != tpl
    ]
    if now.secrets != first.secrets:
        problems.append("Secrets differ from revision 1")
    if now.pvcs != first.pvcs:
        problems.append("PVCs differ from revision 1")
    return problems


def bad_upgrade_problems(
    *,
    status: str,
    revision: int,
    failed_revisions: Sequence[int],
    values: Mapping[str, Any],
    good_values: Mapping[str, Any],
    good_revision: int,
    templates: Mapping[str, Any],
    good_templates: Mapping[str, Any],
) -> list[str]:
    """After a bad upgrade rolled back automatically: deployed again, the failure recorded, and the
    values and workload templates those of the last good revision."""
    problems = []
    if status != "deployed":
        problems.append(f"release is {status} at revision {revision}")
    if not failed_revisions:
        problems.append("no failed revision recorded for the bad upgrade")
    if values != good_values:
        problems.append(f"revision {revision} values differ from the last good revision {good_revision}")
    if templates != good_templates:
        problems.append("workload templates differ from the last good revision")
    return problems


def leftovers(left: Iterable[str], kept: Collection[str], preexisting: Collection[str]) -> list[str]:
    """What uninstall left ("Kind/name", sorted) that is neither kept on purpose nor was there before."""
    return sorted(k for k in left if k not in kept and k not in preexisting)


def uninstall_problems(
    left: Mapping[str, Any], kept: Mapping[str, str], preexisting: Collection[str]
) -> list[str]:
    """What is wrong with the namespace after uninstall.

    left: the objects still there by "Kind/name" (API objects: their metadata.annotations name
    helm hooks); kept: what the chart keeps on purpose, with why; preexisting: what was there before
    the install. Anything else left behind is a problem (hooks get a hint), and so is a kept object
    that is gone.
    """
    unexpected = leftovers(left, kept, preexisting)
    missing_keep = sorted(k for k in kept if k not in left)
    problems = []
    if unexpected:
        hooks = [k for k in unexpected if HOOK in (left[k].metadata.annotations or {})]
        hint = (
            f" ({', '.join(hooks)}: helm uninstall does not delete hooks; add hook-succeeded to their "
            "helm.sh/hook-delete-policy)"
            if hooks
            else ""
        )
        problems.append(f"left behind: {', '.join(unexpected)}{hint}")
    if missing_keep:
        problems.append(f"expected to be kept but gone: {', '.join(missing_keep)}")
    return problems


def first_lines(text: str, n: int = 6) -> str:
    """The first n non-blank lines of text (helm's and kubectl's output can run long)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:n])


def flat_values(values: dict[str, Any], prefix: str = "") -> str:
    """Nested values as `a.b=1, c=2`, '(none)' when there are none."""
    items = []
    for k, v in values.items():
        if isinstance(v, dict):
            items.append(flat_values(v, f"{prefix}{k}."))
        else:
            items.append(f"{prefix}{k}={v}")
    return ", ".join(i for i in items if i) or "(none)"
