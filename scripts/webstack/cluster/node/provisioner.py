"""A dynamic provisioner for the node cluster: claims of our StorageClass get a `local` volume.

It watches (polls, twice a second) for Pending claims of its class (Immediate binding: Helm's
--wait counts an unbound claim as not ready, so a claim no pod uses yet, such as the backup
volume, would hold an upgrade), makes a folder under the cluster's volumes folder, and creates a
PersistentVolume bound to the claim, with node affinity to the first node (or to the node the
scheduler chose, when a claim of a WaitForFirstConsumer class names one): on several nodes a
volume lives on one node, and its pod follows it there. `local`
volumes (unlike hostPath) get the pod's fsGroup applied by kubelet, as real disks do. When a
volume is Released and its policy is Delete, it removes the folder and the volume: PV reclaim
works on uninstall as it does with a real provisioner.

It runs as a daemon of the cluster (`python -m webstack.cluster.node.provisioner`) inside the
cluster's network namespace, so it lives exactly as long as the other components.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROVISIONER = "webstack.node/local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"


class Provisioner:
    def __init__(self, kubeconfig: Path, context: str | None, root: Path, node: str,
                 storage_class: str, log: Path) -> None:
        self.kubeconfig, self.context, self.root = kubeconfig, context, root
        self.node, self.storage_class, self.log = node, storage_class, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webstack-provisioner", daemon=True)
        self.provisioned: list[str] = []
        self.deleted: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _say(self, text: str) -> None:
        with self.log.open("a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def _loop(self) -> None:
        from webstack.cluster.kube import connect

        kube = None
        while not self._stop.is_set():
            try:
                kube = kube or connect(self.kubeconfig, self.context)
                self.once(kube)
            except Exception as exc:  # the API may be restarting; log and retry, never die
                self._say(f"error: {type(exc).__name__}: {str(exc)[:300]}")
                if kube is not None:
                    kube.close()
                    kube = None
            self._stop.wait(0.5)
        if kube is not None:
            kube.close()

    def once(self, kube: Any) -> None:
        for pvc in kube.core.list_persistent_volume_claim_for_all_namespaces().items:
            if pvc.status.phase == "Pending" and not pvc.spec.volume_name and self._ours(pvc):
                self._provision(kube, pvc)
        for pv in kube.core.list_persistent_volume().items:
            if (pv.status.phase == "Released" and pv.spec.storage_class_name == self.storage_class
                    and pv.spec.persistent_volume_reclaim_policy == "Delete"):
                self._delete(kube, pv)

    def _ours(self, pvc: Any) -> bool:
        return bool(pvc.spec.storage_class_name == self.storage_class)

    def _provision(self, kube: Any, pvc: Any) -> None:
        from kubernetes import client

        name = f"pvc-{pvc.metadata.uid}"
        node = (pvc.metadata.annotations or {}).get(SELECTED_NODE, self.node)
        path = self.root / f"{pvc.metadata.namespace}-{pvc.metadata.name}-{pvc.metadata.uid[:8]}"
        path.mkdir(parents=True, exist_ok=True)
        pv = client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(
                name=name, annotations={"pv.kubernetes.io/provisioned-by": PROVISIONER}),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": pvc.spec.resources.requests["storage"]},
                access_modes=pvc.spec.access_modes,
                persistent_volume_reclaim_policy="Delete",
                storage_class_name=self.storage_class,
                volume_mode=pvc.spec.volume_mode or "Filesystem",
                local=client.V1LocalVolumeSource(path=str(path)),
                claim_ref=client.V1ObjectReference(
                    kind="PersistentVolumeClaim", namespace=pvc.metadata.namespace, name=pvc.metadata.name,
                    uid=pvc.metadata.uid, api_version="v1"),
                node_affinity=client.V1VolumeNodeAffinity(required=client.V1NodeSelector(node_selector_terms=[
                    client.V1NodeSelectorTerm(match_expressions=[client.V1NodeSelectorRequirement(
                        key="kubernetes.io/hostname", operator="In", values=[node])])])),
            ),
        )
        try:
            kube.core.create_persistent_volume(pv)
        except client.ApiException as exc:
            if exc.status != 409:  # 409: made on an earlier pass, the claim just has not bound yet
                raise
            return
        self.provisioned.append(name)
        self._say(f"provisioned {name} for {pvc.metadata.namespace}/{pvc.metadata.name} at {path} on {node}")

    def _delete(self, kube: Any, pv: Any) -> None:
        from kubernetes import client

        path = Path(pv.spec.local.path) if pv.spec.local else None
        if path is not None and path.is_relative_to(self.root):
            shutil.rmtree(path, ignore_errors=True)
        try:
            kube.core.delete_persistent_volume(pv.metadata.name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        self.deleted.append(pv.metadata.name)
        self._say(f"deleted {pv.metadata.name} and {path}")


def main(argv: list[str]) -> int:
    kubeconfig, root, node, storage_class, log = argv
    prov = Provisioner(Path(kubeconfig), None, Path(root), node, storage_class, Path(log))
    signal.signal(signal.SIGTERM, lambda *_: prov._stop.set())
    prov._loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
