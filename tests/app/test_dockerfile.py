"""The image's structure, read with a Dockerfile parser (tests/images builds it for real with buildah)."""

from __future__ import annotations

import json
import re

import pytest
from dockerfile_parse import DockerfileParser

from webstack.paths import APP_DIR

pytestmark = pytest.mark.app
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
COMPILERS = ("build-essential", "gcc", "g++", "make", "clang")


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(APP_DIR / "Dockerfile"))


def stages(dockerfile: DockerfileParser) -> list[list[dict]]:
    out: list[list[dict]] = []
    for instruction in dockerfile.structure:
        if instruction["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def test_multi_stage_with_a_pinned_slim_base(dockerfile):
    # The base is one ARG declared before the first FROM, so a build can swap it (webstack images
    # build passes a local Debian base); its default is the pinned official slim image.
    first_from = next(n for n, i in enumerate(dockerfile.structure) if i["instruction"] == "FROM")
    global_args = dict(i["value"].split("=", 1) for i in dockerfile.structure[:first_from]
                       if i["instruction"] == "ARG")
    assert PINNED_PYTHON.match(global_args.get("PYTHON_IMAGE", "")), "ARG PYTHON_IMAGE=<pinned slim tag>"
    froms = [i["value"].split() for i in dockerfile.structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2, "expected a builder stage and a runtime stage"
    for words in froms:
        assert words[0] == "${PYTHON_IMAGE}", f"stage base {words[0]} bypasses ARG PYTHON_IMAGE"
        assert words[1].upper() == "AS"
    assert froms[-1][2] == "runtime"
    assert dockerfile.parent_images == [global_args["PYTHON_IMAGE"]] * len(froms)


def test_final_stage_runs_as_numeric_non_root(dockerfile):
    final = stages(dockerfile)[-1]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) == 10001 and gid == "10001"
    workdirs = [i["value"] for i in final if i["instruction"] == "WORKDIR"]
    assert workdirs[-1] == "/app"


def test_no_compilers_and_wheels_only(dockerfile):
    builder, final = stages(dockerfile)[0], stages(dockerfile)[-1]
    for stage in (builder, final):
        runs = " ".join(i["value"] for i in stage if i["instruction"] == "RUN")
        assert "apt-get install" not in runs and not any(c in runs.split() for c in COMPILERS)
    copies = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=builder /opt/venv") for c in copies)
    # Every pin has a cp311 manylinux wheel; --only-binary keeps it so (a pin without one fails the
    # build instead of needing a compiler).
    installs = [i["value"] for i in builder if i["instruction"] == "RUN" and "pip install" in i["value"]]
    assert installs and all("--only-binary=:all:" in v for v in installs)


def test_no_add_from_urls_and_only_known_sources_copied(dockerfile):
    for instruction in dockerfile.structure:
        assert instruction["instruction"] != "ADD", f"ADD on line {instruction['startline'] + 1}: use COPY"
        if instruction["instruction"] == "COPY":
            assert "://" not in instruction["value"]
    copied = {i["value"].split()[-2] for i in dockerfile.structure
              if i["instruction"] == "COPY" and not i["value"].startswith("--from")}
    for source in copied:
        assert (APP_DIR / source).exists(), f"COPY source {source} missing from app/"


def test_oci_labels_and_runtime_environment(dockerfile):
    labels = dockerfile.labels
    for key in ("title", "description", "version", "revision", "created", "vendor"):
        assert f"org.opencontainers.image.{key}" in labels, key
    env = dockerfile.envs
    assert env["PYTHONPATH"] == "/app" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["GUNICORN_WORKER_TMP_DIR"] == "/dev/shm"
    final = stages(dockerfile)[-1]
    cmd = json.loads(next(i["value"] for i in reversed(final) if i["instruction"] == "CMD"))
    assert cmd == ["gunicorn", "-c", "python:webstack_app.gunicorn_conf", "webstack_app.wsgi:app"]
    assert "8000" in [i["value"] for i in final if i["instruction"] == "EXPOSE"]


def test_app_version_default_matches_version_file(dockerfile):
    version = (APP_DIR / "VERSION").read_text().strip()
    args = [i["value"] for i in stages(dockerfile)[-1] if i["instruction"] == "ARG"]
    assert f"APP_VERSION={version}" in args, "the Dockerfile's ARG APP_VERSION differs from app/VERSION"


def test_dockerignore_admits_only_what_the_image_needs():
    lines = [line.strip() for line in (APP_DIR / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "start from excluding everything"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted <= {"Dockerfile", "VERSION", "requirements.txt", "webstack_app"}
    assert "**/__pycache__" in lines
