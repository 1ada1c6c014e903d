"""Every rendered object against the Kubernetes OpenAPI schema of each requested version, strict.

Schemas are kubernetes-validate's bundled `v<version>-local-strict` files. A validator is compiled
once per (version, apiVersion, kind) by jsonschema-rs over one registry per version holding the shared
definitions, and reused: about 150x faster than the pure-Python jsonschema on these schemas, so
reading the YAML, not validating it, is what a big render costs.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

from webstack.errors import InputError
from webstack.manifests import Manifest
from webstack.report import Finding, Severity

CHECK = "kubernetes"
OLDEST_SUPPORTED = "1.30"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")


def schema_root() -> Path:
    return Path(str(resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")))


@functools.cache
def available_versions() -> tuple[str, ...]:
    """major.minor of every bundled strict schema set, oldest first."""
    found = []
    for d in schema_root().iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.0-local-strict$", d.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


def default_versions() -> list[str]:
    """The oldest supported and the latest available."""
    return [OLDEST_SUPPORTED, available_versions()[-1]]


def normalize_version(text: str) -> str:
    """'1.33', 'v1.33.2' -> '1.33'; anything else (or a version without schemas) is an InputError."""
    m = _VERSION.match(text.strip())
    version = f"{m.group(1)}.{m.group(2)}" if m else None
    if version not in available_versions():
        raise InputError(
            f"--kube-version {text!r}: no Kubernetes schema for it; available: "
            f"{', '.join(available_versions())} (from the kubernetes-validate package)"
        )
    return version


def _schema_dir(version: str) -> Path:
    return schema_root() / f"v{version}.0-local-strict"


@functools.cache
def _registry(version: str) -> jsonschema_rs.Registry:
    defs = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return jsonschema_rs.Registry([(defs["$id"], defs)])


def schema_file(version: str, api_version: str, kind: str) -> Path:
    # apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1, v1 -> v1 (kubernetes-validate's naming)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _schema_dir(version) / f"{kind.lower()}-{group_version}.json"


@functools.cache
def validator(version: str, api_version: str, kind: str) -> jsonschema_rs.Draft202012Validator | None:
    """The cached validator for one kind, or None when no schema exists (a CRD such as ServiceMonitor)."""
    path = schema_file(version, api_version, kind)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema_rs.Draft202012Validator(schema, registry=_registry(version))


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (p if not out else f".{p}")
    return out or "(object)"


def is_builtin_group(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _no_schema(m: Manifest, version: str, ctx: str) -> Finding:
    from webstack.checks import crds

    pinned = crds.pinned_module_for(m.api_version)  # Gateway API's group ends in .k8s.io, yet is a CRD
    if is_builtin_group(m.api_version) and pinned is None:  # not served by this version: install fails
        return Finding(
            m.source,
            m.ref,
            "apiVersion",
            "K8S-API-UNAVAILABLE",
            f"Kubernetes {version} does not serve {m.api_version} {m.kind} (removed or not yet added)",
            Severity.ERROR,
            CHECK,
            ctx,
        )
    return Finding(
        m.source,
        m.ref,
        "(object)",
        "K8S-UNKNOWN-KIND",
        f"no schema for {m.api_version} {m.kind} (a custom resource); skipped"
        + (" (its CRDs are pinned but not fetched: run `webstack setup`)"
           if pinned and not pinned.cached() else ""),
        Severity.INFO,
        CHECK,
        ctx,
    )


def check(
    manifests: list[Manifest], version: str, context: str, crd_files: tuple[Path, ...] = ()
) -> list[Finding]:
    """`crd_files`: extra CustomResourceDefinitions to validate custom resources by (checks.crds)."""
    from webstack.checks import crds

    findings = []
    custom = crds.Catalog(crd_files, [m.doc for m in manifests if m.kind == "CustomResourceDefinition"])
    ctx = f"{context} k8s {version}"
    for m in manifests:
        if not m.kind or not m.api_version:
            findings.append(
                Finding(
                    m.source,
                    m.ref,
                    "(object)",
                    "K8S-SCHEMA",
                    "object has no kind or apiVersion",
                    Severity.ERROR,
                    CHECK,
                    ctx,
                )
            )
            continue
        v = validator(version, m.api_version, m.kind)
        if v is None:
            v = custom.validator(m.api_version, m.kind)
        if v is None:
            findings.append(_no_schema(m, version, ctx))
            continue
        try:
            errors = list(v.iter_errors(m.doc))
        except ValueError as exc:  # a value JSON cannot hold (an explicit !!binary, !!set, !!timestamp)
            findings.append(Finding(m.source, m.ref, "(object)", "K8S-SCHEMA",
                                    f"not JSON-compatible, the API server could not read it: {exc}",
                                    Severity.ERROR, CHECK, ctx))
            continue
        for err in errors:
            findings.append(
                Finding(
                    m.source,
                    m.ref,
                    _path(err.instance_path),
                    "K8S-SCHEMA",
                    err.message,
                    Severity.ERROR,
                    CHECK,
                    ctx,
                )
            )
    return findings


def kubeconform_schema_location(versions: list[str]) -> str:
    """A kubeconform -schema-location for the same bundled strict schemas, usable offline.

    The bundled kind schemas carry `$id: https://kubernetes.io/api/...` and reference
    `/api/_definitions.json`, so kubeconform would resolve that against kubernetes.io and go to the
    network. This writes (once, into the cache) copies without `$id` whose references point at the
    local `_definitions.json` next to them.
    """
    from importlib.metadata import version as dist_version

    from webstack.paths import cache_dir

    root = cache_dir() / "kubeconform-schemas" / dist_version("kubernetes-validate")
    for v in versions:
        dest = root / f"v{v}.0-local-strict"
        if (dest / ".complete").is_file():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for src in _schema_dir(v).glob("*.json"):
            doc = json.loads(src.read_text().replace('"/api/_definitions.json#', '"_definitions.json#'))
            doc.pop("$id", None)
            (dest / src.name).write_text(json.dumps(doc))
        (dest / ".complete").touch()
    return str(
        root
        / "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}"
        / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
