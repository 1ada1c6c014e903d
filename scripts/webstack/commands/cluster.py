"""`webstack cluster up|down|status`: a cluster to test on, kept between commands.

`up` starts it and prints the kubeconfig to use; `down` stops it and removes every file it made.
The state of a running cluster (provider, private folder) is a small JSON file under the system
temporary folder, so `down` works from another shell.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from webstack.cluster import PROVIDERS

DEFAULT_NAME = "webstack-dev"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="start or stop a local cluster (a real node; kwok, kind, existing)")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("--provider", choices=PROVIDERS, default="node",
                   help="node (default: real containers here), kwok (simulated pods), kind, existing")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"cluster name (default {DEFAULT_NAME})")
    p.add_argument("--kubeconfig", type=Path, help="existing provider: kubeconfig (default $KUBECONFIG)")
    p.add_argument("--context", help="existing provider: kubeconfig context (default: current)")
    p.add_argument("--nodes", type=int, default=1, metavar="N", help="node provider: nodes to start (1 to 3)")
    p.set_defaults(func=run)


def state_file(name: str) -> Path:
    return Path(tempfile.gettempdir()) / "webstack-clusters" / f"{name}.json"


def run(args: argparse.Namespace) -> int:
    from webstack.cluster import make
    from webstack.errors import ClusterError

    state = state_file(args.name)
    if args.action == "up":
        if state.exists():
            raise ClusterError(
                f"cluster {args.name} is already up ({state}); `webstack cluster down "
                f"--name {args.name}` first"
            )
        opts = {"kubeconfig": args.kubeconfig, "context": args.context} if args.provider == "existing" else {}
        cluster = make(args.provider, args.name, nodes=args.nodes, **opts)
        cluster.start()
        root = getattr(cluster, "root", None)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(
            json.dumps(
                {
                    "provider": args.provider,
                    "name": cluster.name,
                    "root": str(root) if root else None,
                    "kubeconfig": str(cluster.kubeconfig),
                    "context": cluster.context,
                }
            )
        )
        print(f"{args.provider} cluster {cluster.name} is up\nexport KUBECONFIG={cluster.kubeconfig}")
        return 0
    if not state.exists():
        if args.action == "status":
            print(f"cluster {args.name}: not running")
            return 1
        raise ClusterError(f"no cluster {args.name} is up (no {state})")
    info = json.loads(state.read_text())
    if args.action == "status":
        print(f"{info['provider']} cluster {info['name']}: KUBECONFIG={info['kubeconfig']}")
        return 0
    attach(info).stop()
    state.unlink()
    print(f"{info['provider']} cluster {info['name']} is down")
    return 0


def attach(info: dict[str, str]) -> object:
    """Rebuild the provider object for a cluster started by an earlier `up`."""
    from webstack.cluster import make

    if info["provider"] == "existing":
        return make("existing", kubeconfig=Path(info["kubeconfig"]), context=info.get("context"))
    cluster = make(info["provider"], info["name"])
    cluster.root = Path(info["root"])  # type: ignore[attr-defined]
    if info["provider"] == "kind":
        cluster.created = True  # type: ignore[attr-defined]
    return cluster
