"""The ``auth`` map (syncer.config.authconfig): entries by normalised key, problems kept."""

from __future__ import annotations

from pathlib import Path

from syncer.config.authconfig import parse_auth
from syncer.registry.credentials import AuthEntry

ENV = {"ROBOT_PASS": "s3cret"}


def test_an_auth_file_expands_credentials_and_a_legacy_file_does_not() -> None:
    raw = {"quay.io/": {"username": "robot$ci", "password": "$ROBOT_PASS"}}
    expanded = parse_auth(raw, Path("auth.yaml"), ENV)
    as_written = parse_auth(raw, Path("config.yaml"), ENV, expand=False)
    assert expanded == {"quay.io": AuthEntry("robot", "s3cret")}
    assert as_written == {"quay.io": AuthEntry("robot$ci", "$ROBOT_PASS")}


def test_a_bad_entry_is_kept_with_its_problem_naming_the_field() -> None:
    raw = {"quay.io/team": {"username": "u", "password": "p", "max_connections": 2}}
    [(key, entry)] = parse_auth(raw, Path("auth.json"), {}).items()
    assert key == "quay.io/team" and entry.username is None
    assert entry.problem == (
        'auth.json: auth["quay.io/team"].max_connections: '
        "only a registry host can limit connections"
    )


def test_json_field_names_match_in_any_case_as_go_decodes_them() -> None:
    raw = {"reg.example": {"Username": "u", "PASSWORD": "p", "Max_Connections": 3}}
    assert parse_auth(raw, Path("auth.json"), {}) == {
        "reg.example": AuthEntry("u", "p", max_connections=3)
    }
