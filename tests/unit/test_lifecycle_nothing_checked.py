"""A container step that had nothing to check has not passed (no cluster: the steps fail first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack.cluster import scenario as scen
from webstack.cluster.kwok import KwokCluster
from webstack.lifecycle import Failed, Lifecycle

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cluster"


@pytest.fixture
def life(tmp_path: Path) -> Lifecycle:
    cluster = KwokCluster()
    cluster.runs_containers = True  # type: ignore[misc]  # as on the node: HTTP was expected
    return Lifecycle(cluster, scen.load(FIXTURES / "scenario.yaml"), "x", tmp_path)


@pytest.mark.parametrize("step", ["do_write_data", "do_app_pod_deleted", "do_database_pod_deleted"])
def test_without_the_http_checks_url_the_step_fails(life: Lifecycle, step: str) -> None:
    with pytest.raises(Failed, match="http checks step did not pass"):
        getattr(life, step)()


def test_reading_data_never_written_fails(life: Lifecycle) -> None:
    with pytest.raises(Failed, match="no notes were written"):
        life.do_read_data()


def test_an_unmeasured_probe_says_so(life: Lifecycle) -> None:
    with life.probe() as probe:
        pass
    assert not probe.measured and "nothing was measured" in str(probe)


def test_a_backup_and_restore_without_data_fails_before_touching_anything(life: Lifecycle) -> None:
    with pytest.raises(Failed, match="a restore of an empty table proves nothing"):
        life.do_backup_restore()
