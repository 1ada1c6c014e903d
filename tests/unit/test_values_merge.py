"""webstack.values.merge follows helm's coalescing: maps merge key by key, null deletes, lists replace."""

from __future__ import annotations

import copy

from webstack.values import merge


def test_nested_maps_merge_key_by_key():
    base = {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": 1}
    assert merge(base, {"a": {"c": {"d": 9}}}) == {"a": {"b": 1, "c": {"d": 9, "e": 3}}, "f": 1}


def test_null_deletes_the_key_at_any_depth():
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    assert merge(base, {"a": {"b": None}, "d": None}) == {"a": {"c": 2}}
    assert merge(base, {"missing": None}) == base  # deleting what is not there is no error


def test_lists_replace_never_append():
    assert merge({"hosts": ["a", "b"]}, {"hosts": ["c"]}) == {"hosts": ["c"]}
    assert merge({"hosts": ["a"]}, {"hosts": []}) == {"hosts": []}


def test_a_scalar_replaces_a_map_and_a_map_replaces_a_scalar():
    assert merge({"a": {"b": 1}}, {"a": "off"}) == {"a": "off"}
    assert merge({"a": "off"}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_inputs_are_not_mutated_and_the_result_shares_nothing():
    base = {"a": {"b": [1, 2]}, "c": {"d": 1}}
    over = {"a": {"e": {"f": [3]}}, "c": None}
    base_before, over_before = copy.deepcopy(base), copy.deepcopy(over)
    out = merge(base, over)
    assert (base, over) == (base_before, over_before)
    out["a"]["b"].append(9)
    out["a"]["e"]["f"].append(9)
    assert (base, over) == (base_before, over_before)
