"""What the stack tier takes from the rendered chart: each container's command, environment, files and user.

A `Container` is one rendered container with everything the kubelet would resolve made concrete:
env values from ConfigMaps and Secrets (env and envFrom), the files its configMap/secret volumes
project into it (keyed by the path inside the container), its emptyDir mounts, and the user and
group its securityContext asks for. Nothing here starts processes; stack.py does that.
"""

from __future__ import annotations

import base64
import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webstack.errors import InputError
from webstack.manifests import Manifest, pod_template
from webstack.paths import APP_DIR, CHART_DIR

RELEASE = "webstack"
NAMESPACE = "webstack"
STACK_VALUES = Path(__file__).resolve().parents[1] / "data" / "stack-values.yaml"
NGINX_REPOS = ("/nginx", "/nginx-unprivileged")


class SpecError(InputError):
    """The render lacks something the stack needs; the message names the object and the path in it."""


@dataclass
class Container:
    """One rendered container, resolved as the kubelet would resolve it."""

    owner: str  # Kind/name of the workload
    name: str
    image: str
    command: list[str]  # command + args; empty means the image's default
    env: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)  # path in the container → content
    secret_files: set[str] = field(default_factory=set)  # which of `files` came from Secrets
    modes: dict[str, int] = field(default_factory=dict)  # file mode from defaultMode/items[].mode
    empty_dirs: list[str] = field(default_factory=list)  # mount paths of emptyDir volumes
    mounts: list[str] = field(default_factory=list)  # every mount path (configMap, secret, emptyDir)
    run_as_user: int | None = None
    run_as_group: int | None = None
    ports: dict[str, int] = field(default_factory=dict)


def render(values: list[Path] | None = None, sets: dict[str, object] | None = None,
           workdir: Path | None = None, chart: Path = CHART_DIR) -> list[Manifest]:
    """The chart rendered (webstack.render) with the stack values file, then the caller's values
    files, then `sets` (dotted keys, written as one more values file so a render is reproducible
    from the files left in `workdir`)."""
    import tempfile

    import yaml

    from webstack.render import render_all
    from webstack.values import ValuesSet

    files = [STACK_VALUES, *(values or [])]
    with tempfile.TemporaryDirectory(prefix="webstack-render-") as tmp:
        if sets:
            generated = (workdir or Path(tmp)) / "stack-generated-values.yaml"
            generated.parent.mkdir(parents=True, exist_ok=True)
            generated.write_text("# written by the stack tier: ports it picked, pinned passwords\n"
                                 + yaml.safe_dump(nest(sets), sort_keys=True))
            files.append(generated)
        renders = render_all(chart, [ValuesSet("stack", tuple(files))], release=RELEASE, namespace=NAMESPACE)
    return renders["stack"].manifests


def nest(dotted: dict[str, object]) -> dict[str, object]:
    """{"a.b": 1} → {"a": {"b": 1}}."""
    out: dict[str, object] = {}
    for key, value in dotted.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
            if not isinstance(node, dict):
                raise InputError(f"stack values: {key} conflicts with a value set at {part}")
        node[last] = value
    return out


def _decode_secret(m: Manifest) -> dict[str, bytes]:
    out = {k: base64.b64decode(v) for k, v in (m.doc.get("data") or {}).items()}
    out.update({k: str(v).encode() for k, v in (m.doc.get("stringData") or {}).items()})
    return out


def _config_data(m: Manifest) -> dict[str, bytes]:
    out = {k: str(v).encode() for k, v in (m.doc.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (m.doc.get("binaryData") or {}).items()})
    return out


class Render:
    """The rendered objects, indexed for lookups."""

    def __init__(self, manifests: list[Manifest]):
        self.manifests = manifests
        self._by = {(m.kind, m.name): m for m in manifests}

    def get(self, kind: str, name: str, wanted_by: str) -> Manifest:
        try:
            return self._by[(kind, name)]
        except KeyError:
            raise SpecError(f"{wanted_by} refers to {kind}/{name}, which the render does not contain"
                            ) from None

    def data(self, kind: str, name: str, wanted_by: str) -> dict[str, bytes]:
        m = self.get(kind, name, wanted_by)
        return _decode_secret(m) if kind == "Secret" else _config_data(m)

    def workloads(self, kinds: tuple[str, ...]) -> list[Manifest]:
        return [m for m in self.manifests if m.kind in kinds]

    def find_container(self, kinds: tuple[str, ...], repos: tuple[str, ...], what: str,
                       hook: bool | None = None) -> tuple[Manifest, dict[str, Any], dict[str, Any]]:
        """(workload, pod spec, container) of the first container whose image repository is one of
        `repos` (compared without registry and tag: "mysql" matches docker.io/library/mysql:8.4)."""
        for m in self.workloads(kinds):
            if hook is not None and m.is_hook != hook:
                continue
            spec = (pod_template(m) or {}).get("spec") or {}
            for c in spec.get("containers") or []:
                if any(image_repo(str(c.get("image", ""))).endswith(r) for r in repos):
                    return m, spec, c
        raise SpecError(f"the render has no {'/'.join(kinds)}{' hook' if hook else ''} with a container "
                        f"image {' or '.join(repos)} ({what}); objects: "
                        f"{', '.join(m.ref for m in self.manifests)}")

    def resolve(self, m: Manifest, spec: dict[str, Any], c: dict[str, Any]) -> Container:
        where = f"{m.source} {m.ref} container {c.get('name')}"
        env = self._env(c, where)
        claims = [t["metadata"]["name"] for t in (m.doc.get("spec") or {}).get("volumeClaimTemplates") or []]
        files, secret_files, modes, empty_dirs, mounts = self._mounts(spec, c, where, claims)
        pod_sc, c_sc = spec.get("securityContext") or {}, c.get("securityContext") or {}
        ports = {str(p.get("name") or p["containerPort"]): int(p["containerPort"])
                 for p in c.get("ports") or []}
        return Container(
            owner=m.ref, name=str(c.get("name")), image=str(c.get("image", "")),
            command=[_expand(str(a), env) for a in [*(c.get("command") or []), *(c.get("args") or [])]],
            env=env, files=files, secret_files=secret_files, modes=modes, empty_dirs=empty_dirs,
            mounts=mounts,
            run_as_user=c_sc.get("runAsUser", pod_sc.get("runAsUser")),
            run_as_group=c_sc.get("runAsGroup", pod_sc.get("runAsGroup")), ports=ports,
        )

    def _env(self, c: dict[str, Any], where: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in c.get("envFrom") or []:
            prefix = str(src.get("prefix", ""))
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref := src.get(key):
                    if ref.get("optional") and (kind, ref["name"]) not in self._by:
                        continue
                    for k, v in self.data(kind, ref["name"], f"{where} envFrom").items():
                        env[prefix + k] = v.decode()
        for i, e in enumerate(c.get("env") or []):
            name = e["name"]
            if "value" in e:
                env[name] = _expand(str(e["value"]), env)
                continue
            vf = e.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if ref := vf.get(key):
                    data = self.data(kind, ref["name"], f"{where} env[{i}] ({name})")
                    if ref["key"] not in data:
                        if ref.get("optional"):
                            break
                        raise SpecError(f"{where} env[{i}] ({name}): {kind}/{ref['name']} has no key "
                                        f"{ref['key']!r} (keys: {', '.join(sorted(data))})")
                    env[name] = data[ref["key"]].decode()
            if fr := vf.get("fieldRef"):
                env[name] = _field(fr.get("fieldPath", ""))
            if rr := vf.get("resourceFieldRef"):
                env[name] = "1" if "cpu" in rr.get("resource", "") else "0"
        return env

    def _mounts(self, spec: dict[str, Any], c: dict[str, Any], where: str,
                claims: list[str]) -> tuple[dict[str, bytes], set[str], dict[str, int], list[str], list[str]]:
        # A StatefulSet's volumeClaimTemplates are volumes too (a persistent empty folder here).
        volumes = {name: {"name": name, "persistentVolumeClaim": {}} for name in claims}
        volumes.update({v["name"]: v for v in spec.get("volumes") or []})
        files: dict[str, bytes] = {}
        secret_files: set[str] = set()
        modes: dict[str, int] = {}
        empty_dirs: list[str] = []
        mounts: list[str] = []
        for i, vm in enumerate(c.get("volumeMounts") or []):
            vol = volumes.get(vm["name"])
            if vol is None:
                raise SpecError(f"{where} volumeMounts[{i}]: no volume named {vm['name']!r} in the pod")
            path = str(vm["mountPath"])
            mounts.append(path)
            sources = self._volume_files(vol, f"{where} volume {vm['name']}")
            if sources is None:
                empty_dirs.append(path)
                continue
            sub = vm.get("subPath")
            for rel, (content, secret, mode) in sources.items():
                if sub:
                    if rel != sub:
                        continue
                    target = path
                else:
                    target = posixpath.join(path, rel)
                files[target] = content
                modes[target] = mode
                if secret:
                    secret_files.add(target)
        return files, secret_files, modes, empty_dirs, mounts

    def _volume_files(self, vol: dict[str, Any], where: str) -> dict[str, tuple[bytes, bool, int]] | None:
        """File name → (content, from a Secret, mode) for configMap/secret/projected volumes; None for
        others (emptyDir, PVC: an empty writable folder here)."""
        def one(kind: str, src: dict[str, Any], name: str, secret: bool, default_mode: int):
            data = self.data(kind, name, where)
            mode = int(src.get("defaultMode", default_mode))
            items = src.get("items")
            if not items:
                return {k: (v, secret, mode) for k, v in data.items()}
            missing = [it["key"] for it in items if it["key"] not in data]
            if missing:
                raise SpecError(f"{where}: {kind}/{name} has no key {', '.join(missing)}")
            return {str(it.get("path", it["key"])): (data[it["key"]], secret, int(it.get("mode", mode)))
                    for it in items}

        if cm := vol.get("configMap"):
            return one("ConfigMap", cm, cm["name"], False, 0o644)
        if sec := vol.get("secret"):
            return one("Secret", sec, sec["secretName"], True, 0o644)
        if proj := vol.get("projected"):
            out: dict[str, tuple[bytes, bool, int]] = {}
            mode = int(proj.get("defaultMode", 0o644))
            for src in proj.get("sources") or []:
                if cm := src.get("configMap"):
                    out.update(one("ConfigMap", cm, cm["name"], False, mode))
                if sec := src.get("secret"):
                    out.update(one("Secret", sec, sec["name"], True, mode))
            return out
        return None


def image_repo(image: str) -> str:
    """'/'-prefixed repository path without tag or digest: "r.io/webstack/app:1.0" → "/webstack/app"."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return "/" + name


def _field(path: str) -> str:
    """Downward API values that make sense on loopback."""
    return {"metadata.namespace": NAMESPACE, "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
            "spec.nodeName": "localhost"}.get(path, "stack")


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion in env values and args ($$ escapes)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1 and text[i + 2:end] in env:
            out.append(env[text[i + 2:end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def image_command() -> list[str]:
    """The app image's ENTRYPOINT + CMD, for when the Deployment leaves the command to the image."""
    from dockerfile_parse import DockerfileParser

    dockerfile = APP_DIR / "Dockerfile"
    if not dockerfile.is_file():
        raise SpecError(f"{dockerfile}: missing, and the app Deployment sets no command")
    parser = DockerfileParser(path=str(dockerfile))
    cmd: list[str] = []
    for instr in parser.structure:
        if instr["instruction"] in ("ENTRYPOINT", "CMD"):
            value = instr["value"].strip()
            words = _json_words(value) if value.startswith("[") else shlex.split(value)
            cmd = words if instr["instruction"] == "ENTRYPOINT" else [*cmd, *words]
    if not cmd:
        raise SpecError(f"{dockerfile}: no ENTRYPOINT or CMD, and the app Deployment sets no command")
    return cmd


def _json_words(value: str) -> list[str]:
    import json

    return [str(w) for w in json.loads(value)]


@dataclass
class StackSpec:
    """The four containers the stack runs, resolved from one render, plus the render itself."""

    render: Render
    app: Container
    nginx: Container
    mysql: Container
    migrate: Container
    backup: Container | None  # the backup CronJob (rendered when mysql.backup.enabled)
    restore: Container | None  # the restore hook Job (rendered when mysql.restore.enabled)

    @classmethod
    def from_manifests(cls, manifests: list[Manifest]) -> StackSpec:
        r = Render(manifests)
        app = r.resolve(*r.find_container(("Deployment",), ("/webstack/app",), "the Flask app", hook=False))
        if not app.command:
            app.command = image_command()
        nginx = r.resolve(*r.find_container(("Deployment",), NGINX_REPOS, "the nginx front door", hook=False))
        mysql = r.resolve(*r.find_container(("StatefulSet", "Deployment"), ("/mysql",), "the database",
                                            hook=False))
        migrate = r.resolve(*r.find_container(("Job",), ("/webstack/app",), "the migration hook Job",
                                              hook=True))
        if not migrate.command:
            raise SpecError(f"{migrate.owner}: the migration Job's container sets no command")
        backup = restore = None
        if r.workloads(("CronJob",)):
            backup = r.resolve(*r.find_container(("CronJob",), ("/mysql",), "the backup CronJob"))
        if any(m.is_hook and m.kind == "Job" and "restore" in m.name for m in r.manifests):
            restore = r.resolve(*r.find_container(("Job",), ("/mysql",), "the restore hook Job", hook=True))
        return cls(r, app, nginx, mysql, migrate, backup, restore)
