"""The documentation holds together: links land, pages carry their contents, quotes are real.

Every relative link in README.md, CONTRIBUTING.md and docs/*.md points at a
file that exists, and an anchor at a heading of that file; every docs page
(and CONTRIBUTING.md) lists its sections; every message docs/troubleshooting.md
quotes is still one syncer prints; the exit-code table is the one in the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncer.cli import exits
from tests.support.markdown import (
    PAGES,
    ROOT,
    anchors,
    fragments,
    links,
    messages,
    rendered_strings,
    slug,
    toc,
)

pytestmark = pytest.mark.unit

DOCS = ROOT / "docs"


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_lands_on_a_file_and_an_anchor(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for line, target in links(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{_name(page)}:{line}: {target}: no such file")
        elif anchor and dest.suffix == ".md":
            if anchor not in anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{_name(page)}:{line}: {target}: no such heading")
    assert not broken, "\n".join(broken)


def test_the_link_check_sees_links_and_anchors() -> None:
    """A positive control: the helpers find what the test above relies on."""
    text = "# T\n\n## Deletion mirroring: `--prune`\n\nSee [x](a.md#b) and `[not](a link)`.\n"
    assert list(links(text)) == [(5, "a.md#b")]
    assert anchors(text) == {"t", "deletion-mirroring---prune"}
    assert slug("A worker's auth file") == "a-workers-auth-file"
    assert anchors("## A\n\n```\n## not a heading\n```\n\n## A\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), ROOT / "CONTRIBUTING.md"], ids=_name)
def test_every_page_carries_its_table_of_contents(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    expected = "\n".join(toc(text))
    assert len(toc(text)) >= 2, "a page of reference has sections"
    assert f"**Contents**\n\n{expected}\n" in text, f"{_name(page)} should list:\n{expected}"


def test_the_readme_stays_a_few_screens() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 260


def test_every_quoted_message_is_one_syncer_prints() -> None:
    quoted = messages((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    sources = [*sorted((ROOT / "syncer").rglob("*.py")), *sorted((ROOT / "workers").rglob("*.py"))]
    strings = rendered_strings(sources)
    missing = [
        f"{message!r}: {part!r}"
        for message in quoted
        for part in fragments(message)
        if not any(part in s for s in strings)
    ]
    assert len(quoted) >= 20
    assert not missing, "quoted in docs/troubleshooting.md, printed nowhere:\n" + "\n".join(missing)


def test_the_message_check_can_fail(tmp_path: Path) -> None:
    """A positive control: a message the code does not print is caught, a split one is found."""
    module = tmp_path / "m.py"
    module.write_text(
        'x = 1\nmsg = (f"cannot reach {x} ({x}): start "\n       "one")\nlog = "retry %d of %s"\n'
    )
    strings = rendered_strings([module])
    assert "cannot reach … (…): start one" in strings and "retry … of …" in strings
    assert fragments("cannot reach … (…): start one") == ["cannot reach", "): start one"]
    assert not any("cannot find" in s for s in strings)


def test_the_exit_code_table_is_the_code() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for cell in re.findall(r"^\| ([\d, ]+) \|", section, re.M):
        documented |= {int(code) for code in cell.split(",")}
    constants = {
        value
        for name, value in vars(exits).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert documented == constants | {143}, "every exit code, and SIGTERM's 143"
