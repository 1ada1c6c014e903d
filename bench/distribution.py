"""Distribution costs for the real chart: release checks, package (unsigned/signed), verify, index merge
against a large published index, and an OCI push with and without the "already there?" question.

Ratios are against the plain unsigned package, the step every release pays.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROUNDS = 3


def _median(fn: Callable[[int], object], rounds: int = ROUNDS) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _key(home: Path) -> tuple[str, Path, Path]:
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    params = "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: bench\nExpire-Date: 0\n%commit\n"
    subprocess.run(["gpg", "--batch", "--gen-key"], input=params, text=True, env=env, check=True,
                   capture_output=True)
    sec, pub = home / "secring.gpg", home / "pubring.gpg"
    sec.write_bytes(subprocess.run(["gpg", "--export-secret-keys"], env=env, check=True,
                                   capture_output=True).stdout)
    pub.write_bytes(subprocess.run(["gpg", "--export"], env=env, check=True, capture_output=True).stdout)
    return "bench", sec, pub


def _big_index(path: Path, name: str, versions: int) -> None:
    entries = [{"apiVersion": "v2", "name": name, "version": f"0.{i}.0", "appVersion": "1.0.0",
                "digest": "0" * 64, "created": "2026-01-01T00:00:00Z",
                "urls": [f"https://charts.example.invalid/{name}-0.{i}.0.tgz"]} for i in range(versions)]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "entries": {name: entries},
                                    "generated": "2026-01-01T00:00:00Z"}))


def run() -> None:
    from webstack import helm, package, registry
    from webstack.checks import release_rules
    from webstack.paths import APP_DIR, CHART_DIR
    from webstack.servers import service_tempdir

    tmp = service_tempdir("webstack-bench-dist-")
    saved = {k: os.environ.get(k) for k in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME")}
    for k in saved:
        os.environ[k] = str(tmp / k.lower())
    try:
        meta = package.chart_metadata(CHART_DIR)
        name, version = meta["name"], meta["version"]
        key_name, secring, pubring = _key(tmp / "gnupg")
        key = package.SigningKey(key_name, secring)
        rows: list[tuple[str, float]] = []
        rows.append(("release checks (render + CHANGELOG)",
                     _median(lambda _: release_rules.findings(CHART_DIR, meta, APP_DIR / "VERSION"))))
        rows.append(("package unsigned + index",
                     _median(lambda i: package.package(CHART_DIR, tmp / f"u{i}"))))
        rows.append(("package signed + self-verify + index",
                     _median(lambda i: package.package(CHART_DIR, tmp / f"s{i}", key=key))))
        tgz = tmp / "s0" / f"{name}-{version}.tgz"
        rows.append(("verify (helm verify)", _median(lambda _: package.verify(tgz, pubring))))
        big = tmp / "published.yaml"
        _big_index(big, name, 500)
        rows.append(("package + merge 500 published versions",
                     _median(lambda i: package.package(CHART_DIR, tmp / f"m{i}", merge=big))))
        plain = [_renamed(tmp, f"plain{i}", tgz, helm) for i in range(ROUNDS)]  # a new repository per round
        safe = [_renamed(tmp, f"safe{i}", tgz, helm) for i in range(ROUNDS)]
        with registry.local_registry(tmp / "registry") as reg:
            rows.append(("helm push alone",
                         _median(lambda i: helm.push(plain[i], reg.url, plain_http=True))))
            rows.append(("webstack push (exists? then push)",
                         _median(lambda i: registry.push(safe[i], reg.url, plain_http=True))))
        base = rows[1][1]
        print(f"{'step':44} {'median s':>9} {'x unsigned':>11}")
        for label, seconds in rows:
            print(f"{label:44} {seconds:9.2f} {seconds / base:11.2f}")
        print(f"({ROUNDS} rounds each; chart {name} {version}; ratio = time / 'package unsigned + index')")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


def _renamed(tmp: Path, new_name: str, tgz: Path, helm) -> Path:
    """The same chart under another name, so every push round goes to a new repository (no overwrite)."""
    work = tmp / "rename" / new_name
    work.mkdir(parents=True)
    subprocess.run(["tar", "xzf", str(tgz), "-C", str(work)], check=True)
    (src,) = [p for p in work.iterdir() if p.is_dir()]
    meta = yaml.safe_load((src / "Chart.yaml").read_text())
    meta["name"] = new_name
    (src / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    helm.package(src, tmp / "renamed")
    return tmp / "renamed" / f"{new_name}-{meta['version']}.tgz"
