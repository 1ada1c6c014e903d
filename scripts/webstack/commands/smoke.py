"""`webstack smoke`: the main job. Until the cluster tier lands it says what it will do."""

from __future__ import annotations

import argparse

PLAN = """webstack smoke will:
  1. start a local cluster (kwok: real kube-apiserver, controller-manager, scheduler, etcd; kwok nodes)
  2. create a namespace labelled pod-security.kubernetes.io/enforce=restricted
  3. helm install the chart with --wait, then helm test
  4. assert workloads, endpoints, the migration Job, Secrets and PVCs through the Kubernetes API
  5. helm upgrade (new app version + config change), assert; helm rollback, assert
  6. a deliberately bad upgrade rolled back automatically; uninstall; report; tear down"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("smoke", help="install, test, upgrade, roll back and uninstall on a local cluster")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack.errors import WebstackError

    print(PLAN)
    raise WebstackError("the cluster tier is not built yet: `webstack smoke` only prints its plan")
