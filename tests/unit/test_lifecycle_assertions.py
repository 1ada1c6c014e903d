"""The lifecycle's judgements over hand-made snapshots and values: no cluster, milliseconds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from webstack.cluster.release_state import HOOK, Snapshot
from webstack.lifecycle import assertions as a

WEB = "Deployment/web"
DB = "StatefulSet/db"


def template(image: str = "webstack/app:1.0.0", **checksums: str) -> dict[str, Any]:
    return {
        "images": [image],
        "annotations": {f"checksum/{k}": v for k, v in checksums.items()} | {"other": "x"},
    }


def snap(
    web: dict[str, Any], web_pods: set[str], *, secrets: dict[str, str] | None = None,
    pvcs: dict[str, str] | None = None,
) -> Snapshot:
    return Snapshot(
        templates={WEB: web, DB: template("mysql:8", config="db1")},
        pods={WEB: web_pods, DB: {"db-0@u1"}},
        secrets={"web-secret": "d1"} if secrets is None else secrets,
        pvcs={"data-db-0": "uid-1"} if pvcs is None else pvcs,
    )


def test_a_changed_template_whose_old_pods_still_run_is_reported() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template(config="b"), {"web-1@u1"})
    problems, rolled = a.rolled_workloads(before, after)
    assert problems == [f"{WEB}: template changed but old pods still run"]
    assert rolled == []


def test_a_changed_template_with_new_pods_rolled_and_says_why() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template("webstack/app:1.0.1", config="b"), {"web-2@u2"})
    problems, rolled = a.rolled_workloads(before, after)
    assert problems == []
    assert rolled == [f"{WEB} (checksum/config, image app:1.0.1)"]


def test_an_unchanged_template_is_neither_a_problem_nor_rolled() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template(config="a"), {"web-1@u1"})  # same pods: rightly kept
    assert a.rolled_workloads(before, after) == ([], [])


def test_upgrade_needs_an_image_with_the_new_app_version() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template("webstack/app:1.0.1", config="b"), {"web-2@u2"})
    problems, _ = a.upgrade_problems(before, after, new_version="1.0.1", config_changed=True)
    assert problems == []
    problems, _ = a.upgrade_problems(before, after, new_version="9.9.9", config_changed=True)
    assert len(problems) == 1 and "no workload runs an image tagged 9.9.9" in problems[0]
    problems, _ = a.upgrade_problems(before, after, new_version=None, config_changed=True)
    assert problems == []  # the upgrade did not bump the version: no tag to look for


def test_a_config_change_that_moved_no_checksum_is_reported() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template("webstack/app:1.0.1", config="a"), {"web-2@u2"})  # only the image moved
    problems, _ = a.upgrade_problems(before, after, new_version=None, config_changed=True)
    assert problems == ["the config change moved no checksum/* pod annotation, so no pod rolled for it"]
    assert a.upgrade_problems(before, after, new_version=None, config_changed=False)[0] == []


def test_upgrade_must_keep_generated_secrets_and_claims() -> None:
    before = snap(template(config="a"), {"web-1@u1"})
    after = snap(template(config="b"), {"web-2@u2"}, secrets={"web-secret": "d2"},
                 pvcs={"data-db-0": "uid-2"})
    problems, _ = a.upgrade_problems(before, after, new_version=None, config_changed=True)
    assert problems[0] == "generated Secrets changed on upgrade: web-secret"
    assert problems[1].startswith("PVCs changed: ") and "uid-1" in problems[1] and "uid-2" in problems[1]
    assert len(problems) == 2


def test_rollback_must_restore_revision_1s_templates_secrets_and_claims() -> None:
    first = snap(template(config="a"), {"web-1@u1"})
    assert a.rollback_problems(first, snap(template(config="a"), {"web-3@u3"})) == []
    now = snap(template(config="b"), {"web-3@u3"}, secrets={"web-secret": "d2"}, pvcs={})
    problems = a.rollback_problems(first, now)
    assert len(problems) == 3
    assert problems[0].startswith(f"{WEB}: ") and "revision 1's" in problems[0]
    assert problems[1:] == ["Secrets differ from revision 1", "PVCs differ from revision 1"]


def bad_upgrade(**changes: Any) -> list[str]:
    facts: dict[str, Any] = {
        "status": "deployed", "revision": 6, "failed_revisions": [5], "values": {"a": 1},
        "good_values": {"a": 1}, "good_revision": 4, "templates": {WEB: template()},
        "good_templates": {WEB: template()},
    }
    return a.bad_upgrade_problems(**(facts | changes))


def test_a_bad_upgrade_rolled_back_cleanly_has_no_problem() -> None:
    assert bad_upgrade() == []


def test_a_bad_upgrade_left_behind_is_reported_for_each_reason() -> None:
    assert bad_upgrade(status="failed") == ["release is failed at revision 6"]
    assert bad_upgrade(failed_revisions=[]) == ["no failed revision recorded for the bad upgrade"]
    assert bad_upgrade(values={"a": 2}) == ["revision 6 values differ from the last good revision 4"]
    assert bad_upgrade(templates={WEB: template("webstack/app:bad")}) == [
        "workload templates differ from the last good revision"
    ]


def obj(annotations: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(metadata=SimpleNamespace(annotations=annotations))


KEPT = {"PersistentVolumeClaim/data-db-0": "volumeClaimTemplate of StatefulSet/db"}


def test_kept_on_purpose_and_preexisting_objects_are_not_leftovers() -> None:
    left = {"PersistentVolumeClaim/data-db-0": obj(), "Secret/users-own": obj(), "ConfigMap/web": obj()}
    assert a.leftovers(left, KEPT, {"Secret/users-own"}) == ["ConfigMap/web"]
    assert a.uninstall_problems(left, KEPT, {"Secret/users-own"}) == ["left behind: ConfigMap/web"]
    clean = {"PersistentVolumeClaim/data-db-0": obj(), "Secret/users-own": obj()}
    assert a.uninstall_problems(clean, KEPT, {"Secret/users-own"}) == []


def test_a_kept_object_that_is_gone_is_reported() -> None:
    assert a.uninstall_problems({}, KEPT, set()) == [
        "expected to be kept but gone: PersistentVolumeClaim/data-db-0"
    ]


def test_a_leftover_hook_gets_the_hint_about_its_delete_policy() -> None:
    left = {"Job/migrate": obj({HOOK: "post-install"}), "Pod/web-1": obj(), **dict.fromkeys(KEPT, obj())}
    (problem,) = a.uninstall_problems(left, KEPT, set())
    assert problem.startswith("left behind: Job/migrate, Pod/web-1 (Job/migrate: helm uninstall does not")
    assert "hook-delete-policy" in problem


def test_first_lines_skips_blank_lines_and_stops_at_n() -> None:
    assert a.first_lines("\none\n\n  \ntwo\nthree\n", 2) == "one\ntwo"


def test_flat_values_spells_nested_keys_with_dots() -> None:
    assert a.flat_values({"flask": {"replicas": 3, "env": {"A": "b"}}, "x": 1}) == (
        "flask.replicas=3, flask.env.A=b, x=1"
    )
    assert a.flat_values({}) == "(none)"
    assert a.flat_values({"empty": {}}) == "(none)"


# helm test's output, as Helm 4 prints it
NO_TESTS = "NAME: web\nLAST DEPLOYED: now\nNAMESPACE: x\nSTATUS: deployed\nREVISION: 1\nTEST SUITE: None\n"
ONE_TEST = ("NAME: web\nSTATUS: deployed\nTEST SUITE:     web-test\nLast Started:   now\n"
            "Last Completed: now\nPhase:          {phase}\n")


def test_helm_test_without_any_test_pod_is_not_a_pass() -> None:
    suites, problems = a.helm_test_outcome(NO_TESTS)
    assert suites == [] and problems and "no test pod" in problems[0]


def test_helm_test_passes_only_when_every_test_pod_succeeded() -> None:
    assert a.helm_test_outcome(ONE_TEST.format(phase="Succeeded")) == (["web-test"], [])
    _, problems = a.helm_test_outcome(ONE_TEST.format(phase="Failed"))
    assert problems == ["test pod web-test: phase Failed, expected Succeeded"]


def test_a_test_pod_without_a_phase_is_not_a_pass() -> None:
    _, problems = a.helm_test_outcome("TEST SUITE: web-test\n")
    assert problems == ["test pod web-test: phase not reported, expected Succeeded"]


def test_a_rollback_with_no_workload_to_compare_checked_nothing() -> None:
    assert a.rollback_problems(Snapshot(), Snapshot()) == [
        "revision 1 had no workload to compare with: nothing was checked"]
