"""Reading a file as image-syncer's Go decoders do (pkg/client/config.go, openAndDecode)."""

from __future__ import annotations

import json

import pytest
import yaml

from syncer.config.godecode import first_json_value, first_yaml_document, fold_fields, yaml_v2_bool


@pytest.mark.parametrize(
    ("text", "value", "more"),
    [
        ('{"a": 1}', {"a": 1}, False),
        ('  \n{"a": 1}\n\n', {"a": 1}, False),
        ('{"a": 1} {"b": 2}', {"a": 1}, True),
        ('{"a": 1}\ngarbage, not JSON', {"a": 1}, True),
        ("[1]]", [1], True),
    ],
)
def test_json_is_its_first_value(text: str, value: object, more: bool) -> None:
    """json.Decoder.Decode stops after one value and never reads the rest."""
    assert first_json_value(text) == (value, more)


@pytest.mark.parametrize("text", ["", "   ", '{"a": ', "garbage {}"])
def test_json_without_a_first_value_is_an_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        first_json_value(text)


@pytest.mark.parametrize(
    ("text", "value", "more"),
    [
        ("a: 1\n", {"a": 1}, False),
        ("", None, False),
        ("# only a comment\n", None, False),
        ("a: 1\n---\nb: 2\n", {"a": 1}, True),
        ("---\na: 1\n...\n", {"a": 1}, False),
        ("a: 1\n---\n[unclosed\n", {"a": 1}, True),  # a later document is never built
    ],
)
def test_yaml_is_its_first_document(text: str, value: object, more: bool) -> None:
    """yaml.v2's Decoder.Decode reads one document."""
    assert first_yaml_document(text, yaml.SafeLoader) == (value, more)


def test_a_broken_first_yaml_document_is_an_error() -> None:
    with pytest.raises(yaml.YAMLError):
        first_yaml_document("a: [1\n---\nb: 2\n", yaml.SafeLoader)


def test_json_fields_match_in_any_case_and_the_last_wins() -> None:
    """encoding/json matches struct fields case-insensitively, in file order."""
    fields = ("username", "password", "insecure")
    data = {"USERNAME": "a", "Password": "p", "username": "b", "other": 1, 5: "x"}
    assert fold_fields(data, fields) == {"password": "p", "username": "b", "other": 1, 5: "x"}
    assert fold_fields({"Insecure": True}, fields) == {"insecure": True}
    assert fold_fields({"inſecure": True}, fields) == {"insecure": True}  # Go folds ſ to s too


@pytest.mark.parametrize(
    ("text", "value"),
    [("y", True), ("Y", True), ("n", False), ("N", False), ("'y'", "y"), ("yes", True)],
)
def test_yaml_v2_reads_y_and_n_as_booleans(text: str, value: object) -> None:
    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[type-arg]
            for _, child in node.value:
                yaml_v2_bool(child)
            return super().construct_mapping(node, deep=deep)

    assert yaml.load(f"k: {text}\n", Loader=Loader) == {"k": value}
