"""The root parser: it builds, and each subcommand reaches its own handler."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from syncer.cli import (
    args,
    exits,
    fleet,
    history,
    main,
    metrics,
    probe,
    schedule,
    sync,
    verify,
    webhook,
)

CLI = Path(main.__file__).parent

#: argv that parses for each subcommand, and the module attribute that must handle it.
COMMANDS = {
    "sync": (["sync", "--images", "i.yaml"], sync, "cmd_sync"),
    "plan": (["plan", "--images", "i.yaml"], fleet, "cmd_plan"),
    "status": (["status", "p1"], fleet, "cmd_status"),
    "cancel": (["cancel", "p1"], fleet, "cmd_cancel"),
    "worker": (["worker"], fleet, "cmd_worker"),
    "plans": (["plans"], history, "cmd_plans"),
    "schedule": (["schedule", "list"], schedule, "cmd_list"),
    "beat": (["beat"], schedule, "cmd_beat"),
    "metrics": (["metrics"], metrics, "cmd_metrics"),
    "probe": (["probe", "worker"], probe, "cmd_probe"),
    "verify": (["verify", "--images", "i.yaml"], verify, "cmd_verify"),
    "webhook": (["webhook", "--images", "i.yaml"], webhook, "cmd_webhook"),
}


def test_the_parser_knows_exactly_these_subcommands() -> None:
    assert set(main.subcommands(main.build_parser())) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_parses_to_its_handler(name: str) -> None:
    argv, module, handler = COMMANDS[name]
    args = main.build_parser().parse_args(argv)
    assert args.command == name and args.func is getattr(module, handler)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.Namespace]:
    """Every handler replaced by one that records its arguments and exits 40 + its index."""
    monkeypatch.setattr(exits, "setup_logging", lambda log, verbose: None)
    called: dict[str, argparse.Namespace] = {}
    for index, (name, (_, module, handler)) in enumerate(sorted(COMMANDS.items())):

        def record(args: argparse.Namespace, name: str = name, code: int = 40 + index) -> int:
            called[name] = args
            return code

        monkeypatch.setattr(module, handler, record)
    return called


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_main_runs_the_handler_and_exits_with_its_code(
    handlers: dict[str, argparse.Namespace], name: str
) -> None:
    argv = COMMANDS[name][0]
    assert main.main(argv) == 40 + sorted(COMMANDS).index(name)
    assert list(handlers) == [name]


def test_sync_flags_without_a_subcommand_reach_sync(
    handlers: dict[str, argparse.Namespace],
) -> None:
    main.main(["--images", "i.yaml", "-p", "3"])
    assert list(handlers) == ["sync"]
    assert handlers["sync"].images == Path("i.yaml") and handlers["sync"].proc == 3


def test_stray_words_of_an_image_syncer_command_line_are_ignored(
    handlers: dict[str, argparse.Namespace],
) -> None:
    """image-syncer ignores words that are not flags; a bare syncer command line too."""
    main.main(["--images", "i.yaml", "--arch", "amd64", "arm64", "--os", "linux", "windows"])
    args = handlers["sync"]
    assert (args.arch, args.os, args.config_file) == (["amd64"], ["linux"], None)
    assert args.stray_words == ["arm64", "windows"]


@pytest.mark.parametrize("word", ["stauts", "verfiy", "config.yaml", "help"])
def test_an_unknown_first_word_is_a_usage_error_never_a_sync(
    handlers: dict[str, argparse.Namespace], word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main.main([word, "--config", "mirror.yaml"])
    assert exit_.value.code == 2 and handlers == {}
    err = capsys.readouterr().err
    assert f"unknown command {word!r}: choose from " in err and "sync" in err


@pytest.mark.parametrize(
    "argv", [["--ima", "i.yaml"], ["sync", "--ima", "i.yaml"], ["plan", "--conf", "c"]]
)
def test_abbreviated_flags_are_unknown(
    handlers: dict[str, argparse.Namespace], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main.main(argv)
    assert exit_.value.code == 2 and handlers == {}


def _cli_imports(path: Path) -> set[str]:
    """The ``syncer.cli`` modules ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("syncer.cli")
        ):
            assert node.module != "syncer.cli", f"{path.name}: import the module, not the package"
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("syncer.cli.")
            )
    return found


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    graph = {p.stem: _cli_imports(p) for p in CLI.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import cycle: " + " -> ".join((*path, module))
        if module not in done:
            for imported in graph[module]:
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
    # The entry points sit on top: nothing in the package imports them.
    assert not any({"main", "imagesyncer"} & imports for imports in graph.values())


def test_plan_reads_flags_and_files_as_sync_does(
    handlers: dict[str, argparse.Namespace], tmp_path: Path
) -> None:
    """`syncer plan` parses through the same functions: Go's integers, counts raised to
    their least value, a legacy file's logins used as written (issue 21)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "auth:\n  h.io: {username: robot$ci, password: pw}\nimages:\n  a/b:v1,: h.io/c/d\n"
    )
    main.main(["plan", "--config", str(config), "-p", "0", "-r", "0x1"])
    plan = handlers["plan"]
    options = args.sync_options(plan)
    assert (options.proc, options.retries) == (1, 1)
    loaded = args.load(plan)
    assert loaded.auth["h.io"].username == "robot$ci"
    assert [r.tags for r in loaded.rules] == [("v1",)]
