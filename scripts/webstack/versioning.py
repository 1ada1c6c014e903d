"""Chart version rules: strict SemVer 2.0.0, precedence, and "files changed against a git base ref,
so the version must be greater" (shared by `webstack lint` and `webstack package`).

Git is only read (diff, ls-files, show, archive); the working tree and index are never changed.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

import yaml

from webstack.chart import Chart
from webstack.errors import InputError
from webstack.paths import REPO_ROOT
from webstack.report import Finding, Severity
from webstack.yamlfile import error_place

CHECK = "version"
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def is_semver(text: str) -> bool:
    return bool(SEMVER.match(str(text)))


def _key(version: str) -> tuple:
    m = SEMVER.match(version)
    if not m:
        raise ValueError(f"{version!r} is not SemVer")
    core = tuple(int(g) for g in m.groups()[:3])
    if m.group(4) is None:
        return (core, 1, ())  # a release sorts after its pre-releases
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in m.group(4).split("."))
    return (core, 0, ids)


def greater(a: str, b: str) -> bool:
    """SemVer precedence: a > b (build metadata ignored)."""
    return _key(a) > _key(b)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, errors="replace", timeout=60,
            check=False,
        )
    except OSError as exc:
        raise InputError(f"git is needed to compare with a base ref: {exc}") from exc


class RefNotFound(InputError):
    """The base ref names no commit in the repository: a mistake, always an error."""


class ChartNotAtRef(InputError):
    """The chart did not exist yet at the base ref: nothing to compare with, which callers may skip."""


def commit_of(ref: str, repo: Path = REPO_ROOT) -> str:
    """The commit `ref` names; RefNotFound when it names none."""
    res = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if res.returncode != 0:
        raise RefNotFound(f"--base-ref {ref!r}: not a commit, branch or tag in {repo}")
    return res.stdout.strip()


def chart_at_ref(chart_dir: Path, ref: str, dest: Path, repo: Path = REPO_ROOT) -> Path:
    """The chart directory as it was at `ref`, extracted into `dest` with git archive."""
    rel = _rel(chart_dir, repo)
    commit = commit_of(ref, repo)
    if _git(repo, "cat-file", "-e", f"{commit}:{rel}/Chart.yaml").returncode != 0:
        raise ChartNotAtRef(f"--base-ref {ref!r}: {rel}/Chart.yaml does not exist at {commit[:12]}")
    try:
        res = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", rel],
                             capture_output=True, timeout=120, check=False)
    except OSError as exc:
        raise InputError(f"git is needed to compare with a base ref: {exc}") from exc
    if res.returncode != 0:
        raise InputError(f"--base-ref {ref!r}: git archive failed: {res.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / rel


def changed_files(chart_dir: Path, base_ref: str, repo: Path = REPO_ROOT) -> list[str]:
    """Files under chart_dir that differ from base_ref (tracked changes, committed or not, and new files)."""
    rel = _rel(chart_dir, repo)
    commit_of(base_ref, repo)
    diff = _git(repo, "diff", "--name-only", base_ref, "--", rel)
    if diff.returncode != 0:
        raise InputError(f"git diff against {base_ref!r} failed: {diff.stderr.strip()}")
    new = _git(repo, "ls-files", "--others", "--exclude-standard", "--", rel)
    return sorted({*diff.stdout.split(), *new.stdout.split()})


def _rel(chart_dir: Path, repo: Path) -> str:
    try:
        return str(chart_dir.resolve().relative_to(repo.resolve()))
    except ValueError as exc:
        raise InputError(f"{chart_dir} is not inside the repository {repo}; cannot compare with git") from exc


def version_at(chart_dir: Path, ref: str, repo: Path = REPO_ROOT) -> str | None:
    """Chart.yaml's version at a git ref; None when the chart did not exist there or had no version."""
    where = f"{ref}:{_rel(chart_dir, repo)}/Chart.yaml"
    res = _git(repo, "show", where)
    if res.returncode != 0:
        return None
    try:
        meta = yaml.safe_load(res.stdout)
    except yaml.YAMLError as exc:
        raise InputError(f"{where}{error_place(exc, res.stdout)} (the chart at the base ref)") from exc
    version = meta.get("version") if isinstance(meta, dict) else None
    return str(version) if version else None


def chart_version_bumped(chart_dir: Path, base_ref: str, repo: Path = REPO_ROOT) -> Finding | None:
    """A finding when the chart's files changed against base_ref but its version is not greater."""
    chart_yaml = chart_dir / "Chart.yaml"
    changed = changed_files(chart_dir, base_ref, repo)
    if not changed:
        return None
    old = version_at(chart_dir, base_ref, repo)
    if old is None:
        return None  # a new chart: any version is a bump
    new = Chart.load(chart_dir).version

    def finding(msg: str) -> Finding:
        return Finding(
            str(chart_yaml),
            "Chart.yaml",
            "version",
            "CHART-VERSION-BUMP",
            msg,
            Severity.ERROR,
            CHECK,
            f"base {base_ref}",
        )

    if not is_semver(new) or not is_semver(old):
        return finding(f"cannot compare versions {old!r} (at {base_ref}) and {new!r}: not SemVer")
    if not greater(new, old):
        sample = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return finding(
            f"{len(changed)} file(s) changed since {base_ref} ({sample}) but version {new} is not "
            f"greater than {old}: bump it"
        )
    return None


def bump_findings(chart_dir: Path, base_ref: str, repo: Path = REPO_ROOT) -> list[Finding]:
    """The bump rule for a chart and each subchart under its charts/ directory."""
    charts = [chart_dir, *Chart.load(chart_dir).subchart_dirs]
    return [f for c in charts if (f := chart_version_bumped(c, base_ref, repo)) is not None]
