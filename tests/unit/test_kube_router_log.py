"""kube-router's readiness reads its log: only a sync of the NEWEST process counts, and an aborted
sync (a restarted node's leftover ipsets) is an error, not a wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack.cluster.node.kube_router import STARTED, SYNC_DONE, _first_sync_done
from webstack.errors import ClusterError

OLD_RUN = f"I1 {STARTED}\nI1 {SYNC_DONE} 20ms\n"


def test_a_finished_sync_of_the_newest_process_is_ready(tmp_path: Path) -> None:
    log = tmp_path / "kube-router.log"
    log.write_text(f"{OLD_RUN}I2 {STARTED}\nI2 Starting sync of iptables\nI2 {SYNC_DONE} 31ms\n")
    assert _first_sync_done(log, "webstack-node-2")


def test_the_previous_process_sync_does_not_count(tmp_path: Path) -> None:
    log = tmp_path / "kube-router.log"
    log.write_text(f"{OLD_RUN}I2 {STARTED}\n")
    assert not _first_sync_done(log, "webstack-node-2")


def test_an_aborted_sync_is_an_error_naming_the_node(tmp_path: Path) -> None:
    log = tmp_path / "kube-router.log"
    log.write_text(f"{OLD_RUN}I2 {STARTED}\nE2 Aborting sync. Failed to sync network policy chains: "
                   "ipset restore: Set cannot be created: set with the same name already exists\n"
                   f"I2 {SYNC_DONE} 12ms\n")
    with pytest.raises(ClusterError, match=r"webstack-node-2 failed to apply the policies: .*same name"):
        _first_sync_done(log, "webstack-node-2")


def test_an_old_abort_before_the_restart_is_forgiven(tmp_path: Path) -> None:
    log = tmp_path / "kube-router.log"
    log.write_text(f"I1 {STARTED}\nE1 Aborting sync. x\nI2 {STARTED}\nI2 {SYNC_DONE} 9ms\n")
    assert _first_sync_done(log, "webstack-node")
