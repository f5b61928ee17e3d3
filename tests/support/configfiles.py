"""Config files for unit tests: text as-is, anything else as JSON or YAML by extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def write(tmp_path: Path, name: str, data: Any) -> Path:
    """Write ``data`` as-is if it is text, else as JSON or YAML by extension."""
    path = tmp_path / name
    if not isinstance(data, str):
        data = (
            yaml.safe_dump(data, sort_keys=False)
            if name.endswith((".yaml", ".yml"))
            else json.dumps(data)
        )
    path.write_text(data, encoding="utf-8")
    return path
