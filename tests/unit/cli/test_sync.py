"""``syncer sync``: its cache choice, success-image files and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from syncer.cli import dryrun, sync
from syncer.cli.dryrun import DryRun
from syncer.config.files import SyncConfig
from syncer.embedded import executor
from syncer.engine.cache import FileBlobCache, MemoryBlobCache
from syncer.engine.jobs import ImageResult
from syncer.engine.progress import Stats

DATA = {"s/a:1": ["d/a:1", "e/a:1"], "s/b:1": ["d/b:1"]}


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sync.add_sync_parser(parser.add_subparsers())
    return parser.parse_args(["sync", "--images", "i.yaml", *argv])


def test_cache_none_keeps_it_in_memory_and_a_path_names_the_file(tmp_path: Path) -> None:
    assert type(sync.open_cache(Path("none"))) is MemoryBlobCache
    cache = sync.open_cache(tmp_path / "c.json")
    assert isinstance(cache, FileBlobCache) and cache.path == tmp_path / "c.json"


def test_success_images_json_is_go_compact(tmp_path: Path) -> None:
    sync.write_success_images(tmp_path / "ok.json", "json", DATA)
    text = (tmp_path / "ok.json").read_text()
    assert text == '{"s/a:1":["d/a:1","e/a:1"],"s/b:1":["d/b:1"]}\n'


def test_success_images_yaml_is_block_style(tmp_path: Path) -> None:
    sync.write_success_images(tmp_path / "ok.yaml", "yaml", DATA)
    text = (tmp_path / "ok.yaml").read_text()
    assert text == "s/a:1:\n- d/a:1\n- e/a:1\ns/b:1:\n- d/b:1\n"


def test_an_unwritable_success_file_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert not sync.write_success_images(tmp_path / "missing" / "ok.yaml", "yaml", DATA)
    assert "cannot write" in caplog.text


class _Runner:
    """Stands in for :class:`EmbeddedSync`: ``run()`` reports the given results."""

    made: list[_Runner] = []

    def __init__(
        self, config: SyncConfig, options: Any, *, cache: Any, stop: Any, pool: Any
    ) -> None:
        self.options, self.stats, self.ran = options, Stats(), False
        _Runner.made.append(self)

    def run(self) -> Stats:
        self.ran = True
        self.stats.results += RESULTS
        self.stats.images.failed = sum(r.status == "failed" for r in RESULTS)
        return self.stats


RESULTS: list[ImageResult] = []
#: How many images the stubbed dry run says the real run would fail.
FAILED = [0]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> type[_Runner]:
    _Runner.made, RESULTS[:] = [], [ImageResult("s/a:1", "d/a:1", "synced")]
    FAILED[0] = 0
    monkeypatch.setattr(sync, "load", lambda args: SyncConfig(auth={}, rules=(), limits={}))
    # cmd_sync imports them when it runs (start-up): patched where they live.
    monkeypatch.setattr(executor, "EmbeddedSync", _Runner)
    monkeypatch.setattr(dryrun, "dry_run", lambda runner: DryRun("the dry-run report", FAILED[0]))
    return _Runner


def test_dry_run_prints_the_report_and_runs_nothing(
    runner: type[_Runner], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sync.cmd_sync(_parse("--dry-run", "--cache", "none", "-p", "2")) == 0
    assert capsys.readouterr().out == "the dry-run report\n"
    assert [(r.ran, r.options.proc) for r in runner.made] == [(False, 2)]


def test_a_dry_run_that_would_fail_an_image_exits_as_the_run_would(
    runner: type[_Runner], capsys: pytest.CaptureFixture[str]
) -> None:
    FAILED[0] = 1
    assert sync.cmd_sync(_parse("--dry-run", "--cache", "none")) == 1
    assert capsys.readouterr().out == "the dry-run report\n"
    assert [r.ran for r in runner.made] == [False]


def test_all_synced_exits_0_and_writes_the_success_file(
    runner: type[_Runner], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RESULTS.append(ImageResult("s/b:1", "d/b:1", "skipped"))
    argv = ("--cache", "none", "--output", "json", "--output-success-images", str(tmp_path / "ok"))
    assert sync.cmd_sync(_parse(*argv)) == 0
    assert json.loads(capsys.readouterr().out)["images"]["failed"] == 0
    assert (tmp_path / "ok").read_text() == "s/a:1:\n- d/a:1\n"


def test_a_failed_image_exits_1(runner: type[_Runner]) -> None:
    RESULTS.append(ImageResult("s/c:1", "d/c:1", "failed", "manifest unknown"))
    assert sync.cmd_sync(_parse("--cache", "none")) == 1


def test_an_unwritable_success_file_fails_the_run(runner: type[_Runner], tmp_path: Path) -> None:
    """image-syncer exits non-zero when it cannot open the file (client.go Run), after copying."""
    argv = ("--cache", "none", "--output-success-images", str(tmp_path / "no" / "ok.yaml"))
    assert sync.cmd_sync(_parse(*argv)) == 1
    assert [r.ran for r in runner.made] == [True]


@pytest.mark.parametrize(("word", "name"), [("JSON", "ok.json"), ("xml", "ok.yaml")])
def test_any_images_format_writes_a_file(
    runner: type[_Runner], tmp_path: Path, word: str, name: str
) -> None:
    """JSON in any case is JSON; any other word is YAML, as image-syncer writes."""
    out = tmp_path / name
    argv = ("--cache", "none", "--output-success-images", str(out), "--output-images-format", word)
    assert sync.cmd_sync(_parse(*argv)) == 0
    assert out.read_text() == ('{"s/a:1":["d/a:1"]}\n' if word == "JSON" else "s/a:1:\n- d/a:1\n")
