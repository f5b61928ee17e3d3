"""Reading the project's Markdown as GitHub renders it: headings, anchors, links, messages."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The pages the link test covers: the README, CONTRIBUTING and every page of docs/.
PAGES = (ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md")))
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`[^`]*`")
#: A hole in a message: what a placeholder stands for in the code and in the docs.
HOLE = "…"
_PERCENT = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfgx]")


def prose(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of every line outside fenced code blocks."""
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = "" if fence == marker else fence or marker
            continue
        if not fence:
            yield number, line


def headings(text: str) -> list[tuple[int, str]]:
    """``(level, title)`` of every ATX heading outside code blocks."""
    found = []
    for _, line in prose(text):
        match = re.match(r"(#{1,6}) +(.*?) *#* *$", line)
        if match:
            found.append((len(match[1]), match[2]))
    return found


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    plain = _LINK.sub(r"\1", title).lower()
    return "".join(ch for ch in plain if ch.isalnum() or ch in "-_ ").replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page, with GitHub's ``-1``, ``-2`` for repeated titles."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in headings(text):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, target)`` of every Markdown link outside code blocks and code spans."""
    for number, line in prose(text):
        for match in _LINK.finditer(_CODE_SPAN.sub("", line)):
            yield number, match[2]


def toc(text: str) -> list[str]:
    """The table of contents a page should carry: a link to each ``##`` and ``###`` heading."""
    lines = []
    for level, title in headings(text):
        if level in (2, 3):
            lines.append(f"{'  ' * (level - 2)}- [{title}](#{slug(title)})")
    return lines


def messages(text: str) -> list[str]:
    """The lines of every ````` ```message ````` block: messages quoted as syncer prints them."""
    found, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            inside = stripped == "```message"
            continue
        if inside and stripped:
            found.append(stripped)
    return found


def rendered_strings(paths: Iterable[Path]) -> list[str]:
    """Every string literal of these Python files, with each f-string field and ``%s`` as a hole.

    Python's parser joins adjacent literals, so a message split over lines in
    the code is one string here.
    """
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else HOLE for v in node.values]
                out.append(_PERCENT.sub(HOLE, "".join(map(str, parts))))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(_PERCENT.sub(HOLE, node.value))
    return out


def fragments(message: str) -> list[str]:
    """The fixed parts of a quoted message: what is left between its holes."""
    return [part.strip() for part in message.split(HOLE) if len(part.strip()) >= 3]
