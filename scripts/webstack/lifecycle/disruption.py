"""What users' data and traffic live through on a cluster where containers really run.

Notes written through nginx before a change are read back after it; one app pod is deleted under
the continuous probe (with two replicas nobody should notice); the MySQL pod is deleted and the
app must report it (/readyz 503), recover by itself when the StatefulSet brings MySQL back
(/readyz 200), and keep its pods (no restarts: the liveness probe does not depend on the database).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from webstack.cluster.kube import Kube
from webstack.errors import ClusterError

TIMEOUT = 5


@dataclass(frozen=True)
class Note:
    id: int
    title: str


def write_notes(base: str, count: int) -> list[Note]:
    run = uuid.uuid4().hex[:8]
    notes = []
    for i in range(count):
        title = f"kept-{run}-{i}"
        resp = requests.post(f"{base}/api/notes", json={"title": title, "body": "must survive changes"},
                             timeout=TIMEOUT)
        if resp.status_code != 201:
            raise ClusterError(f"POST /api/notes answered {resp.status_code}: {resp.text[:200]}")
        notes.append(Note(int(resp.json()["id"]), title))
    return notes


def missing_notes(base: str, notes: list[Note]) -> list[str]:
    problems = []
    for note in notes:
        try:
            resp = requests.get(f"{base}/api/notes/{note.id}", timeout=TIMEOUT)
        except requests.RequestException as exc:
            problems.append(f"note {note.id}: {type(exc).__name__}")
            continue
        if resp.status_code != 200 or resp.json().get("title") != note.title:
            problems.append(f"note {note.id}: HTTP {resp.status_code} {resp.text[:120]}")
    return problems


def _pods(kube: Kube, ns: str, app: str) -> dict[str, Any]:
    selector = f"app.kubernetes.io/name={app}"
    items = kube.core.list_namespaced_pod(ns, label_selector=selector).items
    # Running pods only: Jobs' pods (migrations, helm test) carry the same name label.
    return {p.metadata.name: p for p in items
            if p.metadata.deletion_timestamp is None and p.status.phase == "Running"}


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _restarts(pods: dict[str, Any]) -> dict[str, int]:
    return {n: sum(c.restart_count for c in (p.status.container_statuses or [])) for n, p in pods.items()}


def _wait(predicate: Any, what: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.3)
    raise ClusterError(f"{what}: not within {timeout:.0f}s")


def delete_one_pod(kube: Kube, ns: str, app: str, timeout: float = 120) -> str:
    """Delete the first Ready pod of `app`; wait until as many pods are Ready again."""
    before = {n: p for n, p in _pods(kube, ns, app).items() if _ready(p)}
    if len(before) < 2:
        raise ClusterError(f"{app}: {len(before)} Ready pod(s); deleting one would be an outage, not a test")
    victim = sorted(before)[0]
    kube.core.delete_namespaced_pod(victim, ns)

    def replaced() -> bool:
        now = {n: p for n, p in _pods(kube, ns, app).items() if _ready(p)}
        return victim not in now and len(now) >= len(before)

    took = _wait(replaced, f"{app}: {len(before)} Ready pods again after deleting {victim}", timeout)
    return f"pod {victim} deleted; {len(before)} Ready again after {took:.1f}s"


def database_outage(kube: Kube, ns: str, base: str, timeout: float = 180) -> str:
    """Delete the MySQL pod: /readyz must go 503 and come back 200, with no app pod restarted."""
    apps = _pods(kube, ns, "flask")
    restarts = _restarts(apps)
    db = [n for n, p in _pods(kube, ns, "mysql").items() if _ready(p)]
    if not db:
        raise ClusterError("no Ready MySQL pod to delete")
    kube.core.delete_namespaced_pod(db[0], ns)
    seen: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            code = str(requests.get(f"{base}/readyz", timeout=TIMEOUT).status_code)
        except requests.RequestException as exc:
            code = type(exc).__name__
        if not seen or seen[-1] != code:
            seen.append(code)
        if "503" in seen and code == "200":
            break
        time.sleep(0.2)
    back = time.monotonic() - started
    story = " -> ".join(seen)
    if "503" not in seen or seen[-1] != "200":
        raise ClusterError(f"/readyz went {story} within {timeout:.0f}s after deleting {db[0]}; "
                           "expected 503 while MySQL was away, then 200")
    now = _pods(kube, ns, "flask")
    if set(now) != set(apps) or _restarts(now) != restarts:
        raise ClusterError(f"app pods changed while MySQL was away: {sorted(apps)} {restarts} -> "
                           f"{sorted(now)} {_restarts(now)}")
    return f"pod {db[0]} deleted: /readyz {story} in {back:.1f}s; app pods kept, not restarted"


# -- backup and restore ----------------------------------------------------------------------------
def _kubectl(kubectl: str, kubeconfig: str, ns: str, *args: str, timeout: float = 60) -> str:
    import subprocess

    res = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "-n", ns, *args], capture_output=True,
                         text=True, check=False, timeout=timeout)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip()[-300:]
        raise ClusterError(f"kubectl {' '.join(args[:3])} failed: {why}")
    return res.stdout


def database_sql(kubectl: str, kubeconfig: str, ns: str, database: str, sql: str) -> str:
    """Run SQL as root inside the MySQL pod (the password stays in its file, never in argv)."""
    pod = next(iter(_pods_of_component(kubectl, kubeconfig, ns)), None)
    if pod is None:
        raise ClusterError("no running MySQL pod to query")
    script = 'MYSQL_PWD="$(cat "$MYSQL_ROOT_PASSWORD_FILE")" exec mysql -N -B -uroot -h127.0.0.1 "$0" -e "$1"'
    return _kubectl(kubectl, kubeconfig, ns, "exec", pod, "-c", "mysql", "--", "bash", "-c", script,
                    database, sql)


def _pods_of_component(kubectl: str, kubeconfig: str, ns: str) -> list[str]:
    out = _kubectl(kubectl, kubeconfig, ns, "get", "pods", "-l", "app.kubernetes.io/component=database",
                   "--field-selector=status.phase=Running", "-o", "name")
    return [line.split("/", 1)[1] for line in out.split()]


def table_state(kubectl: str, kubeconfig: str, ns: str, database: str, table: str) -> tuple[int, str]:
    """(rows, CHECKSUM TABLE) of one table."""
    out = database_sql(kubectl, kubeconfig, ns, database,
                       f"SELECT COUNT(*) FROM `{table}`; CHECKSUM TABLE `{table}`;").split()
    return int(out[0]), out[-1]


def run_backup_now(kube: Kube, kubectl: str, kubeconfig: str, ns: str, timeout: float = 180) -> str:
    """`kubectl create job --from=cronjob/<backup>`, as an operator would before maintenance."""
    cronjobs = [c.metadata.name for c in kube.batch.list_namespaced_cron_job(ns).items]
    if not cronjobs:
        raise ClusterError("no backup CronJob in the release (mysql.backup.enabled did not render one)")
    job = f"{cronjobs[0]}-now"[:52]
    _kubectl(kubectl, kubeconfig, ns, "create", "job", f"--from=cronjob/{cronjobs[0]}", job)

    def complete() -> bool:
        status = kube.batch.read_namespaced_job_status(job, ns).status
        if status.failed and status.failed > 0 and not status.active:
            raise ClusterError(f"backup Job {job} failed: {_job_logs(kube, ns, job)}")
        return bool(status.succeeded)

    took = _wait(complete, f"backup Job {job} complete", timeout)
    return f"Job {job} from CronJob/{cronjobs[0]} completed in {took:.1f}s"


def _job_logs(kube: Kube, ns: str, job: str) -> str:
    pods = kube.core.list_namespaced_pod(ns, label_selector=f"job-name={job}").items
    if not pods:
        return "no pod"
    return str(kube.core.read_namespaced_pod_log(pods[-1].metadata.name, ns, tail_lines=5))
