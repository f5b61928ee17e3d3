"""Go's os.ExpandEnv, which image-syncer runs on destinations (pkg/utils/types/imageList.go)."""

from __future__ import annotations

import pytest

from syncer.config.goexpand import go_expand_env

ENV = {"A": "1", "EMPTY": "", "A-B": "dash", "1": "one-is-set"}


@pytest.mark.parametrize(
    ("text", "expected", "gone"),
    [
        ("plain/text", "plain/text", ()),
        ("$A/${A}", "1/1", ()),
        ("x$EMPTY/y", "x/y", ()),  # set to empty: not reported
        ("$NOPE/${NOPE}", "/", ("$NOPE",)),
        ("app$2", "app", ("$2",)),  # shell specials are one-character names
        ("app$$", "app", ("$$",)),
        ("a$*b$#c$@d$!e$?f$-g$0", "abcdefg", ("$*", "$#", "$@", "$!", "$?", "$-", "$0")),
        ("$9abc", "abc", ("$9",)),
        ("${2}x", "x", ("$2",)),
        ("a${}b", "ab", ("${}",)),  # bad syntax vanishes
        ("a${b", "ab", ("${",)),  # an unclosed brace: only "${" goes
        ("${A-B}x", "dashx", ()),  # inside braces any text is a name
        ("${A B}x", "x", ("${A B}",)),
        ("a$/b", "a$/b", ()),  # no name: the $ stays
        ("end$", "end$", ()),
        ("$1", "one-is-set", ()),
        ("$_x.y", ".y", ("$_x",)),
    ],
)
def test_go_expand_env(text: str, expected: str, gone: tuple[str, ...]) -> None:
    assert go_expand_env(text, ENV) == (expected, gone)


def test_each_reference_is_reported_once() -> None:
    assert go_expand_env("$X$X${X}", {}) == ("", ("$X",))
