"""The root parser: it builds, and each subcommand reaches its own handler."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from syncer.cli import exits, fleet, history, main, metrics, schedule, sync, verify, webhook

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
    "verify": (["verify", "--images", "i.yaml"], verify, "cmd_verify"),
    "webhook": (["webhook", "--images", "i.yaml"], webhook, "cmd_webhook"),
}


def test_the_parser_knows_exactly_these_subcommands() -> None:
    assert main.subcommands(main.build_parser()) == set(COMMANDS)


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
