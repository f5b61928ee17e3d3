"""Finding image-syncer, the files it reads, and the environment it runs in."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bench.configs import write_auth, write_images
from bench.imagesyncer import command, find, isolated_env, main_checkout
from bench.settings import PROFILES


def _binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_write_auth_names_every_host_insecure_without_credentials(tmp_path: Path) -> None:
    path = write_auth(tmp_path / "auth.yaml", ["10.200.0.1:5710", "10.200.0.1:5711"])
    assert yaml.safe_load(path.read_text()) == {
        "10.200.0.1:5710": {"insecure": True},
        "10.200.0.1:5711": {"insecure": True},
    }


def test_write_images_keeps_rule_order(tmp_path: Path) -> None:
    rules = {"src:1/lab/b": "dst:2/mirror/b", "src:1/lab/a": "dst:2/mirror/a"}
    path = write_images(tmp_path / "images.yaml", rules)
    loaded = yaml.safe_load(path.read_text())
    assert list(loaded.items()) == list(rules.items())


def test_find_prefers_the_environment_then_beside_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    assert find(root, env={}) is None
    beside = _binary(tmp_path / "shared" / "bin" / "image-syncer")
    assert find(root, env={}) == beside
    named = _binary(tmp_path / "elsewhere" / "image-syncer")
    assert find(root, env={"SYNCER_IMAGE_SYNCER": str(named)}) == named
    assert find(root, env={"SYNCER_IMAGE_SYNCER": str(tmp_path / "missing")}) is None


def test_find_looks_beside_the_main_checkout_of_a_worktree(tmp_path: Path) -> None:
    main, worktree = tmp_path / "main", tmp_path / "wt" / "one"
    (main / ".git" / "worktrees" / "one").mkdir(parents=True)
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main}/.git/worktrees/one\n")
    assert main_checkout(worktree) == main
    beside_main = _binary(tmp_path / "shared" / "bin" / "image-syncer")
    assert find(worktree, env={}) == beside_main


def test_isolated_env_keeps_home_and_xdg_inside_and_blanks_registry_settings(
    tmp_path: Path,
) -> None:
    env = isolated_env(tmp_path / "home")
    assert env["HOME"] == str(tmp_path / "home")
    for key in ("DOCKER_CONFIG", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        assert Path(env[key]).is_dir()
        assert Path(env[key]).is_relative_to(tmp_path / "home")
    assert env["REGISTRY_AUTH_FILE"] == "" and env["SYNCER_AUTH_FILE"] == ""


def test_command_passes_both_files_and_the_concurrency() -> None:
    argv = command(Path("/b/image-syncer"), Path("a.yaml"), Path("i.yaml"), 5)
    assert argv == ["/b/image-syncer", "--auth", "a.yaml", "--images", "i.yaml", "--proc", "5"]


def test_profiles_survive_the_seeding_marker_round_trip() -> None:
    # The marker is JSON: a profile that reads back different would reseed every run.
    for profile in PROFILES.values():
        assert json.loads(json.dumps(profile.to_dict())) == profile.to_dict()
