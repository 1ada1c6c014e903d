"""A chart directory and its Chart.yaml, read once with errors that name the file and the place in it.

Every command that takes a chart loads it here first, so a broken chart is one clear InputError
(exit 2) before helm or any check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webstack.errors import InputError
from webstack.report import yaml_value
from webstack.yamlfile import load_mapping


def is_chart(directory: Path) -> bool:
    """Whether `directory` holds a Chart.yaml (it may still be broken: Chart.load says how)."""
    return (directory / "Chart.yaml").is_file()


@dataclass(frozen=True)
class Chart:
    directory: Path
    meta: dict[str, Any]  # Chart.yaml as parsed

    @property
    def path(self) -> Path:
        return self.directory / "Chart.yaml"

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def app_version(self) -> str | None:
        value = self.meta.get("appVersion")
        return None if value is None else str(value)

    @property
    def dependencies(self) -> list[dict[str, Any]]:
        return self.meta.get("dependencies") or []

    @property
    def subchart_dirs(self) -> list[Path]:
        """The charts unpacked under charts/ (packaged .tgz dependencies are not listed)."""
        return sorted(p.parent for p in (self.directory / "charts").glob("*/Chart.yaml"))

    @classmethod
    def load(cls, directory: Path) -> Chart:
        """Read and check `directory`/Chart.yaml; InputError naming the file and the place on any problem."""
        if not directory.exists():
            raise InputError(f"{directory}: chart directory does not exist")
        if not directory.is_dir():
            raise InputError(f"{directory}: expected a chart directory, found a file")
        path = directory / "Chart.yaml"
        if not path.exists():
            raise InputError(f"{directory}: not a chart (no Chart.yaml)")
        meta = load_mapping(path, "Chart.yaml")
        for key in ("name", "version"):
            value = meta.get(key)
            if not isinstance(value, str) or not value:
                found = "not set" if value is None else f"found {yaml_value(value)}"
                raise InputError(f"{path}: .{key}: expected a non-empty string, {found}")
        deps = meta.get("dependencies")
        if deps is not None and not (isinstance(deps, list) and all(isinstance(d, dict) for d in deps)):
            raise InputError(f"{path}: .dependencies: expected a list of mappings (name, version, ...)")
        return cls(directory, meta)
