"""The published-images record and the release rule that holds the chart's app image against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from webstack.checks import release_rules
from webstack.errors import InputError
from webstack.images import record
from webstack.images.publish import check_registry

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def _chart(root: Path, flask_image: dict | None = None, global_registry: str = "") -> Path:
    """A minimal umbrella with a flask subchart, shaped like charts/webstack."""
    chart = root / "umbrella"
    sub = chart / "charts" / "flask"
    sub.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: umbrella\nversion: 1.0.0\nappVersion: 2.0.0\n")
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: flask\nversion: 1.0.0\nappVersion: 2.0.0\n")
    (sub / "values.yaml").write_text(yaml.safe_dump({"global": {"imageRegistry": ""}, "image": {
        "registry": "", "repository": "webstack/app", "tag": "", "digest": ""}}))
    values: dict = {"flask": {"enabled": True}}
    if flask_image:
        values["flask"]["image"] = flask_image
    if global_registry:
        values["global"] = {"imageRegistry": global_registry}
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    return chart


def _entry(repository: str, tag: str = "2.0.0", digest: str = DIGEST) -> record.Published:
    return record.Published("app", repository, tag, digest)


def _rules(chart: Path, *entries: record.Published) -> list[str]:
    found = release_rules.published_image_findings(chart, Path("dist/images.json"), list(entries))
    return [f.message for f in found]


def test_app_image_is_read_like_the_chart_helper(tmp_path):
    assert str(release_rules.app_image(_chart(tmp_path / "a"))) == "webstack/app:2.0.0"
    pinned = _chart(tmp_path / "b", {"registry": "reg.example.com", "digest": DIGEST})
    assert str(release_rules.app_image(pinned)) == f"reg.example.com/webstack/app@{DIGEST}"
    wins = _chart(tmp_path / "c", {"registry": "reg.example.com", "tag": "3.0.0"}, "mirror.example.com:5000")
    assert str(release_rules.app_image(wins)) == "mirror.example.com:5000/webstack/app:3.0.0"


def test_real_chart_app_image_is_flask_image():
    from webstack.paths import APP_DIR, CHART_DIR

    image = release_rules.app_image(CHART_DIR)
    assert image is not None and image.path == ".flask.image"
    assert image.repository == "webstack/app" and image.tag == (APP_DIR / "VERSION").read_text().strip()


def test_chart_image_not_in_record_is_a_finding(tmp_path):
    chart = _chart(tmp_path)
    (msg,) = _rules(chart, _entry("127.0.0.1:5000/webstack/app"))
    assert "webstack/app:2.0.0 is not in dist/images.json" in msg
    assert "127.0.0.1:5000/webstack/app:2.0.0@" + DIGEST in msg
    assert "flask.image.registry" in msg
    (empty,) = _rules(chart)
    assert "lists no images" in empty


def test_published_tag_passes_and_unpushed_tag_is_a_finding(tmp_path):
    chart = _chart(tmp_path, {"registry": "127.0.0.1:5000"})
    assert _rules(chart, _entry("127.0.0.1:5000/webstack/app")) == []
    (msg,) = _rules(chart, _entry("127.0.0.1:5000/webstack/app", tag="1.9.0"))
    assert "tag 2.0.0 of 127.0.0.1:5000/webstack/app was never pushed" in msg


def test_pinned_digest_must_be_the_published_one(tmp_path):
    good = _chart(tmp_path / "good", {"registry": "127.0.0.1:5000", "digest": DIGEST})
    assert _rules(good, _entry("127.0.0.1:5000/webstack/app")) == []
    bad = _chart(tmp_path / "bad", {"registry": "127.0.0.1:5000", "digest": OTHER})
    (msg,) = _rules(bad, _entry("127.0.0.1:5000/webstack/app"))
    assert "pins a different digest" in msg and DIGEST in msg and OTHER in msg


def test_docker_hub_names_are_compared_canonically(tmp_path):
    assert release_rules.canonical("webstack/app") == "docker.io/webstack/app"
    assert release_rules.canonical("mysql") == "docker.io/library/mysql"
    assert release_rules.canonical("localhost/x/y") == "localhost/x/y"
    assert _rules(_chart(tmp_path), _entry("docker.io/webstack/app")) == []


def test_findings_carry_the_rule_and_the_values_path(tmp_path):
    chart = _chart(tmp_path)
    (found,) = release_rules.published_image_findings(chart, Path("images.json"), [])
    assert (found.rule, found.path, found.file) == ("app-image-published", ".flask.image",
                                                    str(chart / "values.yaml"))


def test_record_round_trip_replaces_the_same_tag_only(tmp_path):
    path = tmp_path / "dist" / "images.json"
    assert record.check(path, force=False) == []
    record.write(path, [], _entry("r.example.com/webstack/app", "1.0.0"))
    kept = record.check(path, force=False)
    record.write(path, kept, _entry("r.example.com/webstack/app", "1.0.1"))
    record.write(path, record.load(path), _entry("r.example.com/webstack/app", "1.0.0", OTHER))
    got = {(e.tag, e.digest) for e in record.load(path)}
    assert got == {("1.0.1", DIGEST), ("1.0.0", OTHER)}
    doc = json.loads(path.read_text())
    assert doc["generator"] == "webstack"
    assert doc["images"][-1]["reference"] == f"r.example.com/webstack/app:1.0.0@{OTHER}"
    assert (path.parent / ".webstack-output").exists()  # `webstack package --output dist` may use dist/


def test_a_foreign_record_file_is_not_overwritten(tmp_path):
    path = tmp_path / "images.json"
    path.write_text('{"mine": true}\n')
    with pytest.raises(InputError, match="webstack did not write it"):
        record.check(path, force=False)
    assert record.check(path, force=True) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("{not json", "images.json:1:2: not valid JSON"),
    ('{"images": {}}', ".images: expected a list"),
    ('{"images": [{"name": "app", "repository": "r/x", "tag": "1", "digest": "sha256:12"}]}',
     ".images[0].digest: expected sha256:<64 hex digits>"),
    ('{"images": [{"name": "app", "tag": "1", "digest": "x"}]}',
     ".images[0].repository: expected a non-empty"),
])
def test_a_broken_record_is_an_input_error_naming_the_place(tmp_path, text, expected):
    path = tmp_path / "images.json"
    path.write_text(text)
    with pytest.raises(InputError, match=None) as err:
        record.load(path)
    assert expected in str(err.value)


def test_a_missing_record_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        record.load(tmp_path / "none.json")


@pytest.mark.parametrize("good", ["ghcr.io/acme", "127.0.0.1:5000/charts/x", "localhost/mirror",
                                  "registry.example.com:443", "ghcr.io/acme/"])
def test_registry_references_that_are_accepted(good):
    assert check_registry(good) == good.rstrip("/")


@pytest.mark.parametrize("bad", ["http://127.0.0.1:5000/x", "oci://ghcr.io/acme", "acme", "acme/images",
                                 "ghcr.io/Acme", "", "ghcr.io//x"])
def test_registry_references_that_are_refused(bad):
    with pytest.raises(InputError, match="expected HOST\\[:PORT\\]\\[/PATH\\]"):
        check_registry(bad)


def test_cli_bad_registry_and_record_are_one_line_exit_2(tmp_path, capsys):
    from webstack.cli import main

    assert main(["images", "push", "--registry", "http://127.0.0.1:5000/x", "--record",
                 str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --registry 'http://127.0.0.1:5000/x'")
    bad = tmp_path / "images.json"
    bad.write_text("[]")
    assert main(["package", "--output", str(tmp_path / "out"), "--images-record", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith(f"error: {bad}: .images: expected a list")
    assert not (tmp_path / "out").exists()
