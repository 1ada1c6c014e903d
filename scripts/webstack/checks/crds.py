"""JSON Schemas for custom resources, from CustomResourceDefinitions.

Three sources, later ones winning for the same apiVersion and kind:

1. pinned CRDs read from published Go modules (prometheus-operator's ServiceMonitor, PodMonitor and
   PrometheusRule; Gateway API's standard channel), fetched by `webstack setup` through the Go module
   proxy (`go mod download`), converted once and cached per module version under
   <cache>/crd-schemas/. Checks never download: without the cache a custom resource stays an INFO
   "no schema" finding whose message says to run `webstack setup`;
2. CRD files the caller passes (`webstack check --crd FILE`, run_gate's `crd_files`);
3. CRDs the render itself contains.

Conversion follows kubeconform's openapi2jsonschema.py in strict mode (DENY_ROOT_ADDITIONAL_PROPERTIES):
each served version's `openAPIV3Schema`, `additionalProperties: false` on every object schema that
lists `properties` (the root too), `x-kubernetes-int-or-string` as integer-or-string. Two deliberate
differences: an object marked `x-kubernetes-preserve-unknown-fields: true` stays open (the API server
keeps unknown fields there, so they are not errors), and schemas inside allOf/anyOf/oneOf/not are
never closed (they constrain values, not the object's field set). `nullable: true` admits null. Every
other `x-kubernetes-*` extension (list types, CEL validations, map types) is ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from webstack import yamlstream
from webstack.errors import InputError, ToolchainError
from webstack.paths import cache_dir

Key = tuple[str, str]  # (apiVersion, kind)


@dataclass(frozen=True)
class CrdModule:
    """CRD manifests inside a Go module at a pinned version."""

    module: str
    version: str
    files: tuple[str, ...]

    @property
    def cache_file(self) -> Path:
        return cache_dir() / "crd-schemas" / f"{self.module.replace('/', '+')}@{self.version}.json"

    def cached(self) -> bool:
        return self.cache_file.is_file()

    @property
    def manifest_dir(self) -> Path:
        """The CRD manifests themselves, kept by the same fetch, for clusters that install them."""
        return cache_dir() / "crd-manifests" / f"{self.module.replace('/', '+')}@{self.version}"

    def manifests_cached(self) -> bool:
        return all((self.manifest_dir / Path(rel).name).is_file() for rel in self.files)


_PROM = "example/prometheus-operator-crd/monitoring.coreos.com_"
_GATEWAY = "config/crd/standard/gateway.networking.k8s.io_"
PINNED: tuple[CrdModule, ...] = (
    CrdModule(
        "github.com/prometheus-operator/prometheus-operator",
        "v0.90.1",
        tuple(f"{_PROM}{n}.yaml" for n in ("servicemonitors", "podmonitors", "prometheusrules")),
    ),
    CrdModule(
        "sigs.k8s.io/gateway-api",
        "v1.7.0",
        tuple(
            f"{_GATEWAY}{n}.yaml"
            for n in ("httproutes", "grpcroutes", "gateways", "gatewayclasses", "referencegrants")
        ),
    ),
)


# --- conversion ------------------------------------------------------------------------------------

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "contains", "propertyNames")
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def to_json_schema(node: Any, *, inside_junctor: bool = False) -> Any:
    """One openAPIV3Schema node as strict JSON Schema (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "example", "externalDocs"):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            out[key] = to_json_schema(value, inside_junctor=inside_junctor or key == "not")
        elif key in _JUNCTORS and isinstance(value, list):
            out[key] = [to_json_schema(sub, inside_junctor=True) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out and "oneOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not inside_junctor
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def schemas_of_crd(crd: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema for every served version of one CRD that has a schema."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    out: dict[Key, dict[str, Any]] = {}
    if not group or not kind:
        return out
    for version in spec.get("versions") or []:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        if version.get("served", True) and schema:
            out[(f"{group}/{version['name']}", kind)] = to_json_schema(schema)
    return out


def _crd_docs(text: str, origin: str) -> Iterable[dict[str, Any]]:
    try:
        docs = list(yaml.load_all(text, Loader=yamlstream.Loader))  # libyaml: CRDs run to 100s of KB
    except yaml.YAMLError as exc:
        raise InputError(f"{origin}: not YAML: {exc}") from exc
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            docs.extend(doc.get("items") or [])
        elif isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            yield doc


def schemas_of_file(path: Path) -> dict[Key, dict[str, Any]]:
    """Every CRD schema in a YAML file (several documents or a List); none is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--crd {path}: no such file")
    out: dict[Key, dict[str, Any]] = {}
    for crd in _crd_docs(path.read_text(), str(path)):
        out |= schemas_of_crd(crd)
    if not out:
        raise InputError(f"--crd {path}: no CustomResourceDefinition with an openAPIV3Schema in it")
    return out


# --- fetching (webstack setup) ---------------------------------------------------------------------


def _say(msg: str) -> None:
    print(f"setup: {msg}", file=sys.stderr, flush=True)


def fetch(mod: CrdModule, go: str) -> None:
    """`go mod download` the module, convert its CRDs, write the cache file atomically."""
    with tempfile.TemporaryDirectory(prefix="webstack-crd-") as tmp:
        # Outside any module, so no go.mod or go.work of the caller's decides anything.
        env = dict(os.environ, GOFLAGS="-mod=mod", GOWORK="off")
        res = subprocess.run(
            [go, "mod", "download", "-json", f"{mod.module}@{mod.version}"],
            cwd=tmp, env=env, capture_output=True, text=True, check=False,
        )
    try:
        info = json.loads(res.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    # go refuses to unpack a module whose go.mod asks for a newer Go (gateway-api v1.7.0 says 1.27)
    # after it has downloaded the zip and checked it against go.sum's database: the CRD files are
    # only data, so they are read from that zip, whatever Go the module builds with.
    archive = Path(info.get("Zip") or "/nonexistent")
    if not archive.is_file():
        why = info.get("Error") or res.stderr.strip() or f"exit {res.returncode}"
        raise ToolchainError(
            f"cannot download the CRDs of {mod.module}@{mod.version} from the Go module proxy: {why}"
        )
    with tempfile.TemporaryDirectory(prefix="webstack-crd-") as tmp, zipfile.ZipFile(archive) as zf:
        paths = []
        for rel in mod.files:
            member = f"{mod.module}@{mod.version}/{rel}"
            if member not in zf.namelist():
                raise ToolchainError(f"{mod.module}@{mod.version} has no {rel}")
            paths.append(Path(tmp) / Path(rel).name)
            paths[-1].write_bytes(zf.read(member))
        schemas: dict[Key, dict[str, Any]] = {}
        for path in paths:
            schemas |= schemas_of_file(path)
        _keep_manifests(mod, paths)
    doc = {"module": mod.module, "version": mod.version,
           "schemas": {f"{api}|{kind}": s for (api, kind), s in sorted(schemas.items())}}
    mod.cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = mod.cache_file.with_name(f".{mod.cache_file.name}.{os.getpid()}")
    tmp_file.write_text(json.dumps(doc, separators=(",", ":")))
    tmp_file.replace(mod.cache_file)


def _keep_manifests(mod: CrdModule, paths: list[Path]) -> None:
    """Copy the CRD manifests into the cache (all or nothing: staged, then renamed into place)."""
    mod.manifest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{mod.manifest_dir.name}.", dir=mod.manifest_dir.parent))
    try:
        for path in paths:
            (staging / path.name).write_bytes(path.read_bytes())
        if mod.manifest_dir.exists():
            shutil.rmtree(mod.manifest_dir)
        staging.rename(mod.manifest_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def manifests(mod: CrdModule) -> list[Path]:
    """The pinned module's CRD manifest files as `webstack setup` cached them (for `kubectl apply`-like
    installs on test clusters); never downloads."""
    if not mod.manifests_cached():
        raise ToolchainError(
            f"the CRD manifests of {mod.module}@{mod.version} are not cached ({mod.manifest_dir}): "
            "run `webstack setup` (or `make setup`)"
        )
    return [mod.manifest_dir / Path(rel).name for rel in mod.files]


def ensure(go: str | None = None, modules: Iterable[CrdModule] = PINNED) -> int:
    """Fetch every pinned CRD module not yet cached; returns how many were fetched."""
    todo = [m for m in modules if not (m.cached() and m.manifests_cached())]
    if todo and go is None:
        from webstack.toolchain import go_binary

        go = go_binary()
    for mod in todo:
        _say(f"fetching CRD schemas from {mod.module}@{mod.version} (Go module proxy); cached afterwards")
        fetch(mod, go)  # type: ignore[arg-type]
    return len(todo)


# --- lookup (checks) -------------------------------------------------------------------------------

_lock = threading.Lock()
_pinned: dict[Key, dict[str, Any]] | None = None
_files: dict[tuple[str, int], dict[Key, dict[str, Any]]] = {}
_validators: dict[tuple[str, Key], jsonschema_rs.Draft202012Validator] = {}


def pinned_schemas() -> dict[Key, dict[str, Any]]:
    """The cached pinned schemas (empty for modules `webstack setup` has not fetched)."""
    global _pinned
    with _lock:
        if _pinned is None:
            found: dict[Key, dict[str, Any]] = {}
            for mod in PINNED:
                if mod.cached():
                    for key, schema in json.loads(mod.cache_file.read_text())["schemas"].items():
                        api, _, kind = key.partition("|")
                        found[(api, kind)] = schema
            _pinned = found
        return _pinned


_GROUPS = {
    "github.com/prometheus-operator/prometheus-operator": "monitoring.coreos.com",
    "sigs.k8s.io/gateway-api": "gateway.networking.k8s.io",
}


def pinned_module_for(api_version: str) -> CrdModule | None:
    """The pinned module whose CRDs define this API group (fetched or not), else None."""
    group = api_version.rpartition("/")[0]
    return next((mod for mod in PINNED if _GROUPS.get(mod.module) == group), None)


def _file_schemas(path: Path) -> dict[Key, dict[str, Any]]:
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns if Path(path).is_file() else 0)
    with _lock:
        if key not in _files:
            _files[key] = schemas_of_file(Path(path))
        return _files[key]


class Catalog:
    """The custom resource schemas one check sees: pinned, then the caller's files, then the render's."""

    def __init__(self, crd_files: Iterable[Path] = (), rendered: Iterable[dict[str, Any]] = ()):
        self._sources: list[tuple[str, dict[Key, dict[str, Any]]]] = [("pinned", pinned_schemas())]
        for path in crd_files:
            self._sources.append((f"file:{Path(path).resolve()}", _file_schemas(Path(path))))
        for crd in rendered:
            blob = json.dumps(crd, sort_keys=True)
            self._sources.append((f"render:{hash(blob)}", schemas_of_crd(crd)))

    def validator(self, api_version: str, kind: str) -> jsonschema_rs.Draft202012Validator | None:
        key = (api_version, kind)
        for source, schemas in reversed(self._sources):
            if key in schemas:
                with _lock:
                    v = _validators.get((source, key))
                    if v is None:
                        v = _validators[(source, key)] = jsonschema_rs.Draft202012Validator(schemas[key])
                return v
        return None


def kubeconform_crd_location() -> str:
    """A kubeconform -schema-location for the pinned CRD schemas (the same strict conversion the
    gate uses), written once per pinned module into the cache in kubeconform's CRD layout
    (`<group>/<kind>_<version>.json`); offline. Modules `webstack setup` has not fetched are absent."""
    root = cache_dir() / "crd-schemas" / "kubeconform"
    for mod in PINNED:
        done = root / f".{mod.cache_file.stem}.complete"
        if not mod.cached() or done.is_file():
            continue
        for key, schema in json.loads(mod.cache_file.read_text())["schemas"].items():
            api, _, kind = key.partition("|")
            group, _, version = api.rpartition("/")
            dest = root / group / f"{kind.lower()}_{version}.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
            tmp.write_text(json.dumps(schema))
            tmp.replace(dest)
        done.touch()
    return str(root / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")
