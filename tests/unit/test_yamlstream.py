"""The fast loader reads every document exactly as the full loader does, with helm's YAML 1.1 meaning."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from webstack import yamlstream

TRICKY = ["yes", "No", "on", "OFF", "~", "null", "", "0644", "0x1F", "1_000", "1:30", "-.inf", ".NaN",
          "+12", "1e3", "3.5", "=", "2024-01-01", "2024-01-01T10:00:00Z", "true", "y", "n", "0", "-0"]


def full(text: str) -> object:
    return yaml.load(text, Loader=yamlstream.Loader)


def assert_same(text: str) -> None:
    """The same object, or the same error, as the full loader."""
    try:
        expected = full(text)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            yamlstream.load(text)
    else:
        assert yamlstream.load(text) == expected


@pytest.mark.parametrize("word", TRICKY)
def test_every_plain_scalar_means_what_the_full_loader_says(word: str) -> None:
    assert_same(f"k: {word}\n{word or 'empty'}: v\nl: [{word}]\n")


def test_helm_meaning_booleans_octal_and_timestamps_as_strings() -> None:
    doc = yamlstream.load("a: yes\nb: off\nmode: 0644\nwhen: 2024-01-01\nq: '1'\n")
    assert doc == {"a": True, "b": False, "mode": 420, "when": "2024-01-01", "q": "1"}
    assert not isinstance(doc["when"], datetime.date)


@pytest.mark.parametrize("text", [
    "base: &b {x: 1}\nuse: *b\n",                    # anchors and aliases
    "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",       # merge keys
    "bin: !!binary aGVsbG8=\ns: !!str 12\n",          # explicit tags
    "? [a, b]\n: complex key\n",                      # a complex key (the full loader refuses it too)
])
def test_rare_features_fall_back_to_the_full_loader(text: str) -> None:
    assert_same(text)


def test_broken_yaml_raises_with_the_place() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as info:
        yamlstream.load("a: [1, 2\nb: c\n")
    assert info.value.problem_mark is not None


scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8), st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False))
data = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=6), kids, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data, st.sampled_from([None, False, True]))
def test_any_dumped_document_loads_the_same(value: object, flow: bool | None) -> None:
    assert_same(yaml.safe_dump(value, default_flow_style=flow))
