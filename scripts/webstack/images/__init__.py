"""Container images built on this machine without a registry, for a real node to import into containerd.

    build(["1.0.0", "1.0.1"]) -> [pause, app 1.0.0, app 1.0.1, mysql stand-in, nginx stand-in]

A Debian base (mmdebstrap) underlies everything; the app is built from app/Dockerfile itself with
that base swapped in; the official mysql and nginx-unprivileged images, which cannot be pulled here,
are replaced by labelled stand-ins honouring the contract the chart relies on. Each image is a
docker-archive in <cache>/images/<name>/<tag>-<key>/image.tar, keyed by a hash of every input, so
an unchanged image is reused in well under a second. Entries are staged in a temporary folder and
renamed into place, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from webstack.errors import InputError
from webstack.images import recipes
from webstack.images.buildah import Stage, Tools, read_archive, require_tools
from webstack.images.recipes import PAUSE_REF, Recipe
from webstack.paths import APP_DIR, cache_dir

__all__ = ["PAUSE_REF", "BuiltImage", "build", "chart_values_overlay", "images_dir", "read_archive",
           "substitutions"]

ARCHIVE = "image.tar"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    name: str            # "pause" | "app" | "mysql" | "nginx" (app: one per version)
    ref: str             # full reference as pods name it, e.g. "localhost/webstack/app:1.0.0"
    archive: Path        # docker-archive; `ctr -n k8s.io images import <archive>` keeps `ref` as its name
    stands_in_for: str   # "" or the official image it replaces, e.g. "docker.io/library/mysql:8.4"
    built: bool          # False when it came from the cache
    origin: str = ""     # what a stand-in is built from, e.g. "MariaDB 10.11 from Debian"


def images_dir() -> Path:
    return cache_dir() / "images"


def _entry(recipe: Recipe) -> Path:
    tag = recipe.ref.rsplit(":", 1)[1]
    return images_dir() / recipe.name / f"{tag}-{recipe.key[:16]}"


def _stderr(msg: str) -> None:
    print(f"images: {msg}", file=sys.stderr, flush=True)


def build(app_versions: Sequence[str], *, progress: Progress | None = None,
          app_dir: Path | None = None, names: Sequence[str] | None = None) -> list[BuiltImage]:
    """Build (or reuse) pause, one app image per version, and the mysql and nginx stand-ins.

    `app_dir` is the app's build context (default: app/); tests point it at a broken copy.
    `names` keeps only those images (e.g. ["app"] for `webstack images push`).
    """
    if not app_versions:
        raise InputError("no app version to build: give at least one (e.g. the content of app/VERSION)")
    say = progress or _stderr
    context = (app_dir or APP_DIR).resolve()
    if not (context / "Dockerfile").is_file():
        raise InputError(f"{context}: no Dockerfile (the app's build context)")
    base = recipes.base()
    wanted = [recipes.pause(),
              *(recipes.app(v, base.key, context) for v in dict.fromkeys(app_versions)),
              *(recipes.standin(name, base.key) for name in recipes.STANDINS)]
    wanted = [r for r in wanted if names is None or r.name in names]
    with locked():
        if all((_entry(r) / ARCHIVE).is_file() for r in wanted):
            return [_done(r, built=False, say=say) for r in wanted]  # fast path: no tool runs
        require_tools()
        builder = _Builder(Tools(images_dir()), say)
        results = [builder.ensure(r, base) for r in wanted]
        builder.tools.prune()
    return results


def _done(recipe: Recipe, *, built: bool, say: Progress) -> BuiltImage:
    if not built:
        say(f"{recipe.label}: cached {recipe.ref}")
    return BuiltImage(recipe.name, recipe.ref, _entry(recipe) / ARCHIVE, recipe.stands_in_for, built,
                      recipe.origin)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One build at a time per cache: buildah's storage and the entries are shared."""
    images_dir().mkdir(parents=True, exist_ok=True)
    with (images_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class _Builder:
    def __init__(self, tools: Tools, say: Progress) -> None:
        self.tools, self.say = tools, say
        self.logs = images_dir() / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def ensure(self, recipe: Recipe, base: Recipe) -> BuiltImage:
        if (_entry(recipe) / ARCHIVE).is_file():
            return _done(recipe, built=False, say=self.say)
        if recipe.name != "pause":
            self._ensure_base(base)
        self._build_entry(recipe, base)
        return _done(recipe, built=True, say=self.say)

    def _ensure_base(self, base: Recipe) -> None:
        archive = _entry(base) / ARCHIVE
        if self.tools.has_image(base.ref):
            return
        if archive.is_file():  # cached, but buildah's storage lost it
            with Stage(self.say, f"{base.label}: load {base.ref} from the cache"):
                self.tools.load(base.label, base.ref, archive, self._log(base))
            return
        self._build_entry(base, base)

    def _log(self, recipe: Recipe) -> Path:
        return self.logs / f"{recipe.name}-{recipe.ref.rsplit(':', 1)[1]}.log"

    def _build_entry(self, recipe: Recipe, base: Recipe) -> None:
        """Build into buildah's storage, export into a staging folder, rename it into place."""
        entry = _entry(recipe)
        entry.parent.mkdir(parents=True, exist_ok=True)
        log = self._log(recipe)
        log.write_text(f"# {recipe.label} -> {recipe.ref} (key {recipe.key})\n")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
        try:
            steps = {"base": self._build_base, "pause": self._build_pause, "app": self._build_app}
            steps.get(recipe.name, self._build_standin)(recipe, base, staging, log)
            with Stage(self.say, f"{recipe.label}: export {recipe.ref}"):
                self.tools.export(recipe.label, recipe.ref, staging / ARCHIVE, log)
            for f in staging.iterdir():
                if f.name != ARCHIVE:
                    f.unlink()
            self._replace_older(recipe)
            staging.rename(entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _replace_older(self, recipe: Recipe) -> None:
        """Earlier entries for the same tag are superseded: drop them (and images only they named)."""
        # One base is kept (its tag carries its key); one entry per tag for the others.
        family = "" if recipe.name == "base" else recipe.ref.rsplit(":", 1)[1] + "-"
        for old in _entry(recipe).parent.glob(f"{family}*"):
            if not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        if recipe.name == "base":  # the base's tag carries its key: older tags are not dangling
            for old_ref in self.tools.refs(recipe.ref.rsplit(":", 1)[0]):
                if old_ref != recipe.ref:
                    self.tools.remove(old_ref)

    def _build_base(self, recipe: Recipe, _base: Recipe, staging: Path, log: Path) -> None:
        rootfs = staging / "rootfs.tar"
        with Stage(self.say, f"{recipe.label}: mmdebstrap {recipe.ref} (about 75s)"):
            self.tools.run(recipe.label, ["mmdebstrap", "--variant=minbase",
                                          f"--include={','.join(recipes.BASE_PACKAGES)}",
                                          recipes.BASE_SUITE, str(rootfs)], log)
        with Stage(self.say, f"{recipe.label}: commit {recipe.ref}"):
            self._from_scratch(recipe, log, [("add", str(rootfs), "/")], [
                "--cmd", '["/bin/bash"]',
                "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env", "LANG=C.UTF-8",
                "--label", "org.opencontainers.image.description="
                           f"Debian {recipes.BASE_SUITE} minbase with {', '.join(recipes.BASE_PACKAGES)} "
                           "(mmdebstrap), built locally by webstack",
                "--label", "io.webstack.built-locally=true",
            ])

    def _build_pause(self, recipe: Recipe, _base: Recipe, staging: Path, log: Path) -> None:
        binary = staging / "pause"
        with Stage(self.say, f"{recipe.label}: compile {recipes.PAUSE_SOURCE.name}"):
            self.tools.run(recipe.label, ["gcc", *recipes.PAUSE_CFLAGS, "-o", str(binary),
                                          str(recipes.PAUSE_SOURCE)], log)
        with Stage(self.say, f"{recipe.label}: commit {recipe.ref}"):
            self._from_scratch(recipe, log, [("copy", str(binary), "/pause")], [
                "--entrypoint", '["/pause"]', "--user", "65535:65535", "--stop-signal", "SIGTERM",
                "--label", "org.opencontainers.image.description=webstack's pod sandbox (pause) "
                           "image: a static C program, built locally",
                "--label", "io.webstack.built-locally=true",
            ])

    def _from_scratch(self, recipe: Recipe, log: Path, files: list[tuple[str, str, str]],
                      config: list[str]) -> None:
        container = self.tools.buildah(recipe.label, log, "from", "--quiet", "scratch")
        try:
            for verb, src, dest in files:
                self.tools.buildah(recipe.label, log, verb, container, src, dest)
            self.tools.buildah(recipe.label, log, "config", *config, container)
            self.tools.buildah(recipe.label, log, "commit", "--quiet", "--rm", container, recipe.ref)
        except BaseException:
            self.tools.run(recipe.label, self.tools.buildah_cmd("rm", container), log)
            raise

    def _build_app(self, recipe: Recipe, base: Recipe, _staging: Path, log: Path) -> None:
        assert recipe.context is not None
        # pip verifies PyPI against the host's CA bundle (this machine may trust extra CAs); mounted
        # for the build only, and only over the file the base already has.
        ca = ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"] if HOST_CA_BUNDLE.is_file() else []
        built_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with Stage(self.say, f"{recipe.label}: buildah bud {recipe.context}/Dockerfile -> {recipe.ref}"):
            self._bud(recipe, log, [
                *ca,
                "--build-arg", f"PYTHON_IMAGE={base.ref}",
                "--build-arg", f"APP_VERSION={recipe.version}",
                "--build-arg", f"BUILD_DATE={built_at}",
                "--label", f"org.opencontainers.image.base.name={base.ref}",
                "--label", "io.webstack.built-locally=true",
            ])

    def _build_standin(self, recipe: Recipe, base: Recipe, _staging: Path, log: Path) -> None:
        with Stage(self.say, f"{recipe.label}: buildah bud {recipe.ref} (stands in for "
                             f"{recipe.stands_in_for})"):
            self._bud(recipe, log, [
                "--build-arg", f"BASE_IMAGE={base.ref}",
                "--build-arg", f"STANDS_IN_FOR={recipe.stands_in_for}",
                "--label", "io.webstack.built-locally=true",
            ])

    def _bud(self, recipe: Recipe, log: Path, extra: list[str]) -> None:
        assert recipe.context is not None
        dockerfile = recipe.context / ("Dockerfile" if recipe.name == "app" else "Containerfile")
        self.tools.buildah(
            recipe.label, log, "bud", "--pull-never", "--network=host", "--force-rm", "--layers=false",
            "--file", str(dockerfile), "--tag", recipe.ref, *extra, str(recipe.context),
        )


def _split(ref: str) -> dict[str, str]:
    registry, rest = ref.split("/", 1)
    repository, tag = rest.rsplit(":", 1)
    return {"registry": registry, "repository": repository, "tag": tag, "digest": "", "pullPolicy": "Never"}


def chart_values_overlay(images: Sequence[BuiltImage], app_version: str | None = None) -> dict:
    """Umbrella-chart values pointing every chart image at `images` (and never pulling them).

    With `app_version` the app image is pinned to that tag; without, the chart's appVersion picks
    it (an upgrade to a chart with a new appVersion then runs the new image, as from a registry).
    The test pod uses the flask image (webstack.testImage), so it follows flask's block.
    """
    by_name = {i.name: i for i in images if i.name != "app"}
    apps = [i for i in images if i.name == "app"]
    app = next((i for i in apps if app_version is None or i.ref.endswith(f":{app_version}")), None)
    if app is None:
        raise InputError(f"no app image for version {app_version} among {[i.ref for i in images]}")
    flask = _split(app.ref)
    if app_version is None:
        del flask["tag"]
    overlay: dict = {"flask": {"image": flask}}
    for chart in ("mysql", "nginx"):
        if chart in by_name:
            overlay[chart] = {"image": _split(by_name[chart].ref)}
    return overlay


def substitutions(images: Sequence[BuiltImage]) -> list[str]:
    """One line per stand-in: what it replaces and what it is."""
    return [f"{i.stands_in_for} -> {i.ref}" + (f" ({i.origin})" if i.origin else "")
            for i in images if i.stands_in_for]
