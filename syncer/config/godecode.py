"""How image-syncer's Go decoders read a config file, where Python's would differ.

image-syncer decodes each file once with ``encoding/json`` or ``gopkg.in/yaml.v2``
(``pkg/client/config.go``, ``openAndDecode``). Files written for it rely on
what those accept, so :mod:`syncer.config` reads them the same way:

- a JSON file is its first value: ``json.Decoder.Decode`` never looks past it;
- a YAML file is its first document: ``yaml.Decoder.Decode`` reads one;
- a JSON object decoded into a struct matches field names case-insensitively
  (``"Username"``, ``"AUTH"``), and the last match in the file wins; YAML
  field names are exact;
- yaml.v2 reads ``y``, ``Y``, ``n`` and ``N`` as booleans (YAML 1.1), where
  PyYAML reads them as text.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Mapping
from typing import Any, cast

import yaml

#: yaml.v2's boolean words that PyYAML's resolver leaves as strings.
_YAML_V2_BOOLS = {"y": "true", "Y": "true", "n": "false", "N": "false"}
_BOOL_TAG = "tag:yaml.org,2002:bool"
_END = object()


def first_json_value(text: str) -> tuple[Any, bool]:
    """The first JSON value in ``text``, and whether anything but space follows it."""
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    value, end = decoder.raw_decode(text, start)
    return value, bool(text[end:].strip())


def first_yaml_document(text: str, loader: type[yaml.SafeLoader]) -> tuple[Any, bool]:
    """The first YAML document in ``text`` (None when empty), and whether another follows.

    A later document is never built, so its mistakes do not matter, as in Go.
    """
    # A SafeLoader builds plain data only; closing the generator disposes of it.
    documents = cast(Generator[Any, None, None], yaml.load_all(text, Loader=loader))
    try:
        first = next(documents, None)
        try:
            more = next(documents, _END) is not _END
        except yaml.YAMLError:
            more = True
    finally:
        documents.close()
    return first, more


def fold_fields(data: Mapping[Any, Any], fields: Iterable[str]) -> dict[Any, Any]:
    """``data`` with keys that name one of ``fields`` in another case renamed to it.

    As Go's ``encoding/json`` matches struct fields: exact or case-insensitive,
    in file order, so a later spelling of the same field wins.
    """
    names = {field.casefold(): field for field in fields}
    out: dict[Any, Any] = {}
    for key, value in data.items():
        name = names.get(key.casefold(), key) if isinstance(key, str) else key
        out.pop(name, None)  # a later match wins, and takes the later place
        out[name] = value
    return out


def yaml_v2_bool(node: yaml.Node) -> None:
    """Make an unquoted ``y``/``n`` (any case yaml.v2 knows) a boolean node, in place."""
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _YAML_V2_BOOLS:
        node.value = _YAML_V2_BOOLS[node.value]
        node.tag = _BOOL_TAG
