"""Values-schema findings speak YAML and helm, not Python: one formatter per jsonschema validator kind."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from webstack import report
from webstack.checks import values


def _found(schema: dict[str, Any], instance: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        (values.dotted(path), rule, message)
        for err in validator.iter_errors(instance)
        for path, rule, message, _blame in values._issues(err, schema, list(prefix))
    ]


def _one(schema: dict[str, Any], instance: Any, prefix: tuple[str, ...] = ()) -> tuple[str, str, str]:
    (found,) = _found(schema, instance, prefix)
    return found


def _prop(sub: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"k": sub}}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        ("n", '"n"'),
        ("", '""'),
        (["Always", 1, None], '["Always", 1, null]'),
        ({"a": False}, "{a: false}"),
    ],
)
def test_values_are_written_as_yaml(value, text):
    assert report.yaml_value(value) == text


def test_long_values_are_cut():
    assert report.yaml_value("x" * 200, limit=10) == '"xxxxxx...'


@pytest.mark.parametrize(
    ("sub", "instance", "rule", "message"),
    [
        ({"type": "integer"}, "three", "VALUES-TYPE", 'expected an integer, got the string "three"'),
        ({"type": "string"}, None, "VALUES-TYPE", "expected a string, got null (not set)"),
        ({"type": "boolean"}, "yes", "VALUES-TYPE", 'expected true or false, got the string "yes"'),
        (
            {"type": ["string", "integer"]},
            [1],
            "VALUES-TYPE",
            "expected a string or an integer, got the list [1]",
        ),
        ({"type": "object"}, False, "VALUES-TYPE", "expected a map, got false"),
        ({"enum": ["A", "B"]}, "C", "VALUES-ENUM", '"C" is not one of ["A", "B"]'),
        ({"const": False}, True, "VALUES-CONST", "must be false, got true"),
        ({"minimum": 1}, 0, "VALUES-MINIMUM", "must be at least 1, got 0"),
        ({"maximum": 65535}, 70000, "VALUES-MAXIMUM", "must be at most 65535, got 70000"),
        ({"exclusiveMinimum": 0}, 0, "VALUES-EXCLUSIVEMINIMUM", "must be greater than 0, got 0"),
        ({"exclusiveMaximum": 10}, 10, "VALUES-EXCLUSIVEMAXIMUM", "must be less than 10, got 10"),
        ({"multipleOf": 5}, 7, "VALUES-MULTIPLEOF", "must be a multiple of 5, got 7"),
        ({"minLength": 1}, "", "VALUES-MINLENGTH", "must not be empty"),
        ({"minLength": 3}, "ab", "VALUES-MINLENGTH", 'must be at least 3 characters long, got "ab"'),
        ({"maxLength": 2}, "abc", "VALUES-MAXLENGTH", 'must be at most 2 characters long, got 3: "abc"'),
        ({"minItems": 1}, [], "VALUES-MINITEMS", "must have at least 1 item, got 0: []"),
        (
            {"maxItems": 0},
            ["NET_ADMIN"],
            "VALUES-MAXITEMS",
            'must have at most 0 items, got 1: ["NET_ADMIN"]',
        ),
        ({"pattern": "^[a-z]+$"}, "A b", "VALUES-PATTERN", '"A b" does not match the pattern "^[a-z]+$"'),
        (
            {"pattern": "^[a-z]+$", "description": "lowercase letters"},
            "A",
            "VALUES-PATTERN",
            '"A" is not lowercase letters',
        ),
        (
            {"contains": {"const": "ALL"}},
            ["NET_RAW"],
            "VALUES-CONTAINS",
            'must contain "ALL", got ["NET_RAW"]',
        ),
        ({"uniqueItems": True}, [1, 1], "VALUES-UNIQUEITEMS", "items must be unique, got [1, 1]"),
        ({"not": {"const": "latest"}}, "latest", "VALUES-NOT", 'must not be "latest"'),
        ({"not": {"description": "both are 0", "const": 0}}, 0, "VALUES-NOT", "both are 0"),
        (
            {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+%$"}]},
            -1,
            "VALUES-ONEOF",
            "must be at least 0, got -1",
        ),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            None,
            "VALUES-ANYOF",
            "expected an integer or a string, got null (not set)",
        ),
        (
            {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
            3,
            "VALUES-ONEOF",
            "3 matches more than one alternative",
        ),
    ],
)
def test_one_formatter_per_validator_kind(sub, instance, rule, message):
    assert _one(_prop(sub), {"k": instance}) == ("k", rule, message)
    assert "'" not in message or "'" in str(sub)  # no Python repr quoting


def test_required_names_the_dotted_key_that_is_not_set():
    schema = {"properties": {"image": {"required": ["tag", "repository"]}}}
    found = _found(schema, {"image": {"repository": "x"}}, ("flask",))
    assert found == [("flask.image", "VALUES-REQUIRED", "flask.image.tag is not set (required)")]


def test_unknown_key_is_quoted_as_yaml_and_points_at_itself():
    schema = {"additionalProperties": False, "properties": {"port": {}, "type": {}}}
    assert _one(schema, {"prot": 1}, ("nginx",)) == (
        "nginx.prot",
        "VALUES-UNKNOWN-KEY",
        'unknown key "prot" (allowed: port, type)',
    )


def test_property_names_say_it_is_the_key():
    schema = {"propertyNames": {"pattern": "^[a-z]+$"}}
    assert _one(schema, {"Bad Key": 1}) == (
        "(top level)",
        "VALUES-PATTERN",
        'key "Bad Key" does not match the pattern "^[a-z]+$"',
    )


def test_global_is_addressed_at_the_top_even_in_a_subchart_schema():
    schema = {"properties": {"global": {"properties": {"imageRegistry": {"type": "string"}}}}}
    assert _one(schema, {"global": {"imageRegistry": 5}}, ("flask",))[0] == "global.imageRegistry"


PAIRS = {
    "allOf": [
        {
            "if": {
                "properties": {
                    "mysql": {"properties": {"enabled": {"const": False}}, "required": ["enabled"]}
                },
                "required": ["mysql"],
            },
            "then": {
                "properties": {
                    "flask": {
                        "properties": {
                            "db": {
                                "required": ["host"],
                                "properties": {
                                    "host": {"minLength": 1, "description": "the external MySQL host"}
                                },
                            }
                        }
                    }
                }
            },
        },
        {
            "if": {
                "properties": {"secret": {"minLength": 1}, "host": {"maxLength": 0}},
                "required": ["secret"],
            },
            "then": {
                "anyOf": [
                    {"properties": {"a": {"minLength": 1}}, "required": ["a"]},
                    {"properties": {"b": {"minLength": 1, "description": "B"}}, "required": ["b"]},
                ]
            },
        },
        {
            "if": {"properties": {"monitor": {"const": True}}, "required": ["monitor"]},
            "then": {"properties": {"metrics": {"const": True}}},
        },
    ]
}


def test_if_then_says_the_condition_and_the_keys_to_set():
    found = _found(PAIRS, {"mysql": {"enabled": False}, "flask": {"db": {"host": ""}}})
    assert found == [
        (
            "flask.db.host",
            "VALUES-COMBINATION",
            "mysql.enabled is false: set flask.db.host (the external MySQL host)",
        )
    ]
    missing = _found(PAIRS, {"mysql": {"enabled": False}, "flask": {"db": {}}})
    assert missing == [
        (
            "flask.db",
            "VALUES-COMBINATION",
            "mysql.enabled is false: set flask.db.host (the external MySQL host)",
        )
    ]


def test_if_then_with_alternatives_and_a_subchart_prefix():
    assert _found(PAIRS, {"secret": "s", "a": ""}, ("mysql",)) == [
        (
            "mysql",
            "VALUES-COMBINATION",
            "mysql.secret is set and mysql.host is not set: set mysql.a or mysql.b (B)",
        )
    ]


def test_if_then_asking_for_a_value():
    assert _found(PAIRS, {"monitor": True, "metrics": False}) == [
        ("metrics", "VALUES-COMBINATION", "monitor is true: metrics must be true, got false")
    ]


def test_if_then_blames_the_key_of_the_condition():
    schema = PAIRS["allOf"][2]
    (err,) = jsonschema.Draft7Validator(schema).iter_errors({"monitor": True, "metrics": False})
    ((_path, _rule, _message, blame),) = values._issues(err, schema, ["mysql"])
    assert blame == [["mysql", "monitor"], ["mysql", "metrics"]]
