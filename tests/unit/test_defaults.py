"""syncer/defaults.py is the one home of every default and every ``SYNCER_*`` reader."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from syncer import defaults
from syncer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / "syncer" / "defaults.py"
NAME = re.compile(r"SYNCER_[A-Z0-9_]*")
#: Each documented variable, and the default docs/environment.md must state for it.
DOCUMENTED_DEFAULTS = {
    "SYNCER_REQUEST_DEADLINE": defaults.REQUEST_DEADLINE,
    "SYNCER_WAIT_BUDGET": defaults.WAIT_BUDGET,
    "SYNCER_MIN_RATE": defaults.MIN_RATE,
    "SYNCER_RATE_WINDOW": defaults.RATE_WINDOW,
    "SYNCER_MAX_MANIFEST": defaults.MAX_MANIFEST,
    "SYNCER_MAX_TREE_BYTES": defaults.MAX_TREE_BYTES,
    "SYNCER_MAX_IMAGE_REFERRERS": defaults.MAX_IMAGE_REFERRERS,
    "SYNCER_MAX_TAG_PAGES": defaults.MAX_TAG_PAGES,
    "SYNCER_MAX_TAGS": defaults.MAX_TAGS,
    "SYNCER_VISIBILITY_TIMEOUT": defaults.VISIBILITY_TIMEOUT,
    "SYNCER_BATCH_BLOB": defaults.BATCH_BLOB,
    "SYNCER_PRUNE_MAX": defaults.PRUNE_MAX,
}


def _name(node: ast.AST) -> str | None:
    """The ``SYNCER_*`` name a node spells as a string literal, if it does."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if NAME.fullmatch(node.value):
            return node.value
    return None


def env_reads(source: str) -> Iterator[str]:
    """Every ``SYNCER_*`` name ``source`` looks up: ``.get``/``getenv`` calls, subscripts, ``in``.

    Writes (``env["SYNCER_X"] = v``, ``dict(os.environ, SYNCER_X=v)``) are not reads: the
    CLI hands settings to the workers it starts that way.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            found = [_name(arg) for arg in node.args]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            found = [_name(node.slice)]
        elif isinstance(node, ast.Compare):
            found = [_name(node.left)] if isinstance(node.ops[0], ast.In | ast.NotIn) else []
        else:
            continue
        yield from (name for name in found if name)


def _modules() -> Iterator[Path]:
    for package in ("syncer", "workers"):
        yield from sorted((ROOT / package).rglob("*.py"))


def _documented() -> dict[str, str]:
    """docs/environment.md's table of syncer's own variables: variable -> its default column."""
    page = (ROOT / "docs" / "environment.md").read_text()
    section = page.split("\n## syncer's own\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(SYNCER_[A-Z0-9_]+)` \| ([^|]*) \|", section, re.M)
    return {name: default.strip() for name, default in rows}


@pytest.mark.parametrize(
    "code",
    [
        'os.environ.get("SYNCER_X")',
        'os.getenv("SYNCER_X", "1")',
        'os.environ["SYNCER_X"]',
        'env.get("SYNCER_X")',
        '"SYNCER_X" in os.environ',
        'os.environ.pop("SYNCER_X")',
    ],
)
def test_the_scan_sees_each_way_of_reading_a_variable(code: str) -> None:
    assert list(env_reads(code)) == ["SYNCER_X"]


def test_the_scan_lets_the_cli_hand_variables_to_a_child() -> None:
    code = 'env = dict(os.environ, SYNCER_X="1")\nenv["SYNCER_Y"] = url\nlog("see SYNCER_Z")'
    assert list(env_reads(code)) == []


def test_no_module_but_defaults_reads_a_syncer_variable() -> None:
    readers = {
        str(path.relative_to(ROOT)): names
        for path in _modules()
        if path != HOME and (names := sorted(set(env_reads(path.read_text()))))
    }
    assert readers == {}


CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
#: Module-level numbers that are part of a contract, not tunables: changing one
#: breaks whoever reads it rather than tuning syncer, so they stay by their readers.
PROTOCOL_NUMBERS = {
    # Exit statuses: the shell, scripts and image-syncer's users read them.
    "syncer/cli/exits.py": [
        "EXIT_FAILED",
        "EXIT_INTERRUPTED",
        "EXIT_LOST",
        "EXIT_OK",
        "EXIT_USAGE",
    ],
    # What the Lua scripts of Ledger return; script and caller must agree.
    "syncer/fleet/state/ledger.py": ["COUNT_RULE", "GONE", "NOTHING", "RECORD"],
    # The schema version of message bodies written before bodies carried one.
    "syncer/fleet/protocol/messages.py": ["FIRST_VERSION"],
}


def _number(node: ast.AST) -> bool:
    """Whether ``node`` is a number, or arithmetic on numbers (``64 << 10``, ``3 * EVERY``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    if isinstance(node, ast.BinOp):
        leaves = (node.left, node.right)
        return any(map(_number, leaves)) and all(
            _number(leaf) or isinstance(leaf, ast.Name) for leaf in leaves
        )
    return False


def _bound(target: ast.expr, value: ast.expr) -> Iterator[tuple[str, ast.expr]]:
    """Each name ``target`` binds, with its value; ``A, B = 1, 2`` binds two."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        for name, item in zip(target.elts, value.elts, strict=False):
            yield from _bound(name, item)


def tunables(source: str) -> Iterator[str]:
    """Every constant-named module-level name ``source`` binds to a number (or tuple of them)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            pairs = [pair for target in node.targets for pair in _bound(target, node.value)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = list(_bound(node.target, node.value))
        else:
            continue
        for name, value in pairs:
            items = value.elts if isinstance(value, ast.Tuple) and value.elts else [value]
            if CONSTANT.fullmatch(name) and all(map(_number, items)):
                yield name


@pytest.mark.parametrize(
    "code",
    [
        "X = 5",
        "_X = 0.25",
        "X: float = 60.0",
        "X = 64 << 10",
        "X = 3 * EVERY",
        "X = -1",
        "X = (10.0, 120.0)",
        "A, X = 'a', 2.0",
    ],
)
def test_the_tunable_scan_sees_each_way_of_writing_a_number(code: str) -> None:
    assert [name.lstrip("_") for name in tunables(code)] == ["X"]


def test_the_tunable_scan_skips_names_text_state_and_locals() -> None:
    code = (
        'X = "5"\nX = True\nX = EVERY\nX = ((2, 0),)\n_count = 0\nlog = 1\n'
        "def f() -> None:\n    X = 5\n"
    )
    assert list(tunables(code)) == []


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@functools.cache
def _names_read(path: Path) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """What a module reads, scanned once: ``from M import N`` pairs, and ``alias.attr`` pairs."""
    imported, attributes = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {(node.module, a.name) for a in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            attributes.add((node.value.id, node.attr))
    return frozenset(imported), frozenset(attributes)


def _aliases(path: Path, package: str, base: str) -> set[str]:
    """The names ``path`` binds to module ``package.base`` with ``from package import base``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == package:
            found |= {a.asname or a.name for a in node.names if a.name == base}
    return found


def readers_elsewhere(owner: Path, name: str) -> list[str]:
    """Modules other than ``owner`` that read its constant ``name`` (imported or ``mod.NAME``)."""
    module = _dotted(owner)
    package, _, base = module.rpartition(".")
    found = []
    for path in _modules():
        if path == owner:
            continue
        imported, attributes = _names_read(path)
        if (module, name) in imported:
            found.append(str(path.relative_to(ROOT)))
        elif (package, base) in imported and any(
            (alias, name) in attributes for alias in _aliases(path, package, base)
        ):
            found.append(str(path.relative_to(ROOT)))
    return found


def test_a_constant_outside_defaults_is_read_only_beside_it() -> None:
    # A number one module reads lives beside that module (dramatiq keeps its
    # backoff bounds by its retry middleware); one that several modules share
    # is a default, and belongs in defaults.py, or a contract listed above.
    shared = {
        f"{path.relative_to(ROOT)}:{name}": readers
        for path in _modules()
        if path != HOME
        for name in tunables(path.read_text())
        if name not in PROTOCOL_NUMBERS.get(str(path.relative_to(ROOT)), [])
        and (readers := readers_elsewhere(path, name))
    }
    assert shared == {}


def test_the_reader_scan_sees_imports_and_attributes() -> None:
    exits = ROOT / "syncer" / "cli" / "exits.py"
    assert "syncer/cli/sync.py" in readers_elsewhere(exits, "EXIT_FAILED")
    assert readers_elsewhere(ROOT / "syncer" / "defaults.py", "REQUEST_DEADLINE")


def test_every_protocol_number_exists() -> None:
    for module, names in PROTOCOL_NUMBERS.items():
        assert set(names) <= set(tunables((ROOT / module).read_text())), module


def test_every_variable_read_is_in_the_docs_table_and_nothing_else() -> None:
    read = set(env_reads(HOME.read_text()))
    assert {"SYNCER_REDIS_URL", "SYNCER_AUTH_FILE", "SYNCER_MAX_TAGS"} <= read
    assert set(_documented()) == read


@pytest.mark.parametrize("variable", sorted(DOCUMENTED_DEFAULTS))
def test_the_docs_state_the_default_the_code_uses(variable: str) -> None:
    assert float(_documented()[variable]) == DOCUMENTED_DEFAULTS[variable]


def test_the_docs_state_the_default_redis_url() -> None:
    assert _documented()["SYNCER_REDIS_URL"] == f"`{defaults.REDIS_URL}`"


SECONDS: list[tuple[str, Callable[[], float], float]] = [
    ("SYNCER_REQUEST_DEADLINE", defaults.request_deadline, defaults.REQUEST_DEADLINE),
    ("SYNCER_WAIT_BUDGET", defaults.wait_budget, defaults.WAIT_BUDGET),
    ("SYNCER_MIN_RATE", defaults.min_rate, defaults.MIN_RATE),
    ("SYNCER_RATE_WINDOW", defaults.rate_window, defaults.RATE_WINDOW),
]
POSITIVE: list[tuple[str, Callable[[], int], int]] = [
    ("SYNCER_MAX_MANIFEST", defaults.max_manifest, defaults.MAX_MANIFEST),
    ("SYNCER_MAX_TREE_BYTES", defaults.max_tree_bytes, defaults.MAX_TREE_BYTES),
    ("SYNCER_MAX_IMAGE_REFERRERS", defaults.max_image_referrers, defaults.MAX_IMAGE_REFERRERS),
    ("SYNCER_MAX_TAG_PAGES", defaults.max_tag_pages, defaults.MAX_TAG_PAGES),
    ("SYNCER_MAX_TAGS", defaults.max_tags, defaults.MAX_TAGS),
    ("SYNCER_PRUNE_MAX", defaults.prune_max, defaults.PRUNE_MAX),
]
WHOLE: list[tuple[str, Callable[[], Any], Any]] = [
    ("SYNCER_BATCH_BLOB", defaults.batch_blob, defaults.BATCH_BLOB),
    ("SYNCER_VISIBILITY_TIMEOUT", defaults.visibility_timeout, defaults.VISIBILITY_TIMEOUT),
    ("SYNCER_WORKER_CONCURRENCY", defaults.worker_concurrency, None),
]
ALL = SECONDS + POSITIVE + WHOLE


def _one_line_naming(variable: str, read: Callable[[], Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        read()
    message = str(caught.value)
    assert variable in message and "\n" not in message
    return message


@pytest.mark.parametrize(("variable", "read", "default"), ALL, ids=[v for v, _, _ in ALL])
def test_unset_or_empty_gives_the_default(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], Any], default: Any
) -> None:
    monkeypatch.delenv(variable, raising=False)
    assert read() == default
    monkeypatch.setenv(variable, "")
    assert read() == default


@pytest.mark.parametrize(("variable", "read", "default"), SECONDS, ids=[v for v, _, _ in SECONDS])
def test_seconds_and_rates_are_positive_numbers(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], float], default: float
) -> None:
    monkeypatch.setenv(variable, " 2.5 ")
    assert read() == 2.5
    for bad in ("0", "-1", "inf", "nan", "soon"):
        monkeypatch.setenv(variable, bad)
        assert "positive number" in _one_line_naming(variable, read)


@pytest.mark.parametrize(("variable", "read", "default"), POSITIVE, ids=[v for v, _, _ in POSITIVE])
def test_caps_are_positive_whole_numbers(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], int], default: int
) -> None:
    monkeypatch.setenv(variable, "12")
    assert read() == 12
    for bad in ("0", "-3", "1.5", "1e6", "many"):
        monkeypatch.setenv(variable, bad)
        assert "positive whole number" in _one_line_naming(variable, read)
    with pytest.raises(ConfigError, match=variable):
        defaults.check_limits()


@pytest.mark.parametrize(("variable", "read", "default"), WHOLE, ids=[v for v, _, _ in WHOLE])
def test_fleet_numbers_are_whole_and_never_negative(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], Any], default: Any
) -> None:
    for text, value in (("8", 8), (" 8\n", 8)):
        monkeypatch.setenv(variable, text)
        assert read() == value
    for bad in ("-1", "1.5", "lots", "1e3"):
        monkeypatch.setenv(variable, bad)
        assert "whole number" in _one_line_naming(variable, read)


def test_zero_turns_batching_off_but_is_no_timeout_or_pool_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNCER_BATCH_BLOB", "0")
    assert defaults.batch_blob() == 0
    for variable, read, _ in WHOLE[1:]:
        monkeypatch.setenv(variable, "0")
        assert "positive whole number" in _one_line_naming(variable, read)


@pytest.mark.parametrize("port", ["0", "65536", "-80", "http"])
def test_a_metrics_port_is_a_tcp_port(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("SYNCER_METRICS_PORT", port)
    message = _one_line_naming("SYNCER_METRICS_PORT", defaults.metrics_listen)
    assert "TCP port" in message or "positive whole number" in message
    monkeypatch.setenv("SYNCER_METRICS_PORT", "9100")
    assert defaults.metrics_listen() == (defaults.metrics_addr(), 9100)


def test_the_auth_file_is_a_path_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCER_AUTH_FILE", raising=False)
    assert defaults.auth_file() is None
    monkeypatch.setenv("SYNCER_AUTH_FILE", "")
    assert defaults.auth_file() is None
    monkeypatch.setenv("SYNCER_AUTH_FILE", "/run/secrets/auth.yaml")
    assert defaults.auth_file() == Path("/run/secrets/auth.yaml")


def test_redis_url_flag_then_variable_then_file_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SYNCER_REDIS_URL", raising=False)
    monkeypatch.delenv("SYNCER_REDIS_URL_FILE", raising=False)
    assert defaults.redis_url() == defaults.REDIS_URL
    (tmp_path / "url").write_text("redis://file:6379/1\n")
    monkeypatch.setenv("SYNCER_REDIS_URL_FILE", str(tmp_path / "url"))
    assert defaults.redis_url() == "redis://file:6379/1"
    monkeypatch.setenv("SYNCER_REDIS_URL", "redis://env:6379/2")
    assert defaults.redis_url() == "redis://env:6379/2"
    assert defaults.redis_url("redis://flag:6379/3") == "redis://flag:6379/3"


def test_a_missing_redis_url_file_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SYNCER_REDIS_URL", raising=False)
    monkeypatch.setenv("SYNCER_REDIS_URL_FILE", str(tmp_path / "absent"))
    _one_line_naming("SYNCER_REDIS_URL_FILE", defaults.redis_url)


def test_a_worker_sizes_its_pool_from_the_variable_else_proc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from syncer.fleet.protocol.settings import celery_config
    from workers import context

    # The issue this closes: the worker fell back to 4 while every doc said 5.
    assert defaults.PROC == 5
    assert celery_config(defaults.REDIS_URL)["worker_concurrency"] == defaults.PROC
    client = redis.Redis()  # never connects: building a pool sends nothing
    monkeypatch.delenv("SYNCER_WORKER_CONCURRENCY", raising=False)
    monkeypatch.setitem(context.app.conf, "worker_concurrency", None)
    # Each task slot runs up to TASK_THREADS requests at once.
    assert context._pool({}, client)._pool_size == defaults.PROC * defaults.TASK_THREADS
    monkeypatch.setenv("SYNCER_WORKER_CONCURRENCY", "9")
    assert context._pool({}, client)._pool_size == 9 * defaults.TASK_THREADS


def test_no_port_serves_nothing_and_a_bad_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCER_METRICS_PORT", raising=False)
    monkeypatch.delenv("SYNCER_METRICS_ADDR", raising=False)
    assert defaults.metrics_listen() is None
    monkeypatch.setenv("SYNCER_METRICS_PORT", "9808")
    assert defaults.metrics_listen() == ("127.0.0.1", 9808)
    monkeypatch.setenv("SYNCER_METRICS_ADDR", "0.0.0.0")
    assert defaults.metrics_listen() == ("0.0.0.0", 9808)
    for bad in ("http", "0", "70000"):
        monkeypatch.setenv("SYNCER_METRICS_PORT", bad)
        with pytest.raises(ConfigError, match="SYNCER_METRICS_PORT"):
            defaults.metrics_listen()


def test_a_long_bad_value_is_cut_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "x" * 200)
    with pytest.raises(ConfigError) as info:
        defaults.max_manifest()
    assert "x" * 40 in str(info.value) and "x" * 41 not in str(info.value)


def test_the_blob_cache_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert defaults.blob_cache_file() == tmp_path / "syncer" / "blobs.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert defaults.cache_dir() == tmp_path / "home" / ".cache" / "syncer"
