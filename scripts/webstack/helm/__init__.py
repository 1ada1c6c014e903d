"""The one helm layer: every helm call of the toolkit goes through here.

- resolve: which binary runs ($WEBSTACK_HELM, a Helm 4 on PATH, the pinned build), version-checked;
- charts: verbs on chart folders, packages and registries (template, lint, dependency build, package,
  repo index, verify, show chart, push), and `run` for anything else;
- releases: verbs on a release in a cluster (install/upgrade, rollback, history, get values, test,
  uninstall), through pyhelm3 and its event loop.

A failed helm command is a HelmError carrying helm's own words.
"""

from __future__ import annotations

from webstack.errors import HelmError
from webstack.helm.charts import (
    Result,
    Signature,
    Template,
    dependency_build,
    lint,
    package,
    push,
    repo_index,
    run,
    show_chart,
    template,
    template_many,
    verify,
    words,
)
from webstack.helm.releases import ChartInfo, Hook, Releases, Revision
from webstack.helm.resolve import SUPPORTED_MAJOR, binary, helm4_on_path, parse_version, reported_version

__all__ = [
    "SUPPORTED_MAJOR",
    "ChartInfo",
    "HelmError",
    "Hook",
    "Releases",
    "Result",
    "Revision",
    "Signature",
    "Template",
    "binary",
    "dependency_build",
    "helm4_on_path",
    "lint",
    "package",
    "parse_version",
    "push",
    "repo_index",
    "reported_version",
    "run",
    "show_chart",
    "template",
    "template_many",
    "verify",
    "words",
]
