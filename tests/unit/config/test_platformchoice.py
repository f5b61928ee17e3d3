"""A rule's ``platforms:`` list (syncer.config.platformchoice): parsing, and any-entry matching."""

from __future__ import annotations

import pytest

from syncer.config.platformchoice import PlatformChoice, entry_filter, platform_list
from syncer.errors import ConfigError
from syncer.oci.manifest import PlatformFilter

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64_V8 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
ARM_V7 = {"os": "linux", "architecture": "arm", "variant": "v7"}
WIN_AMD64 = {"os": "windows", "architecture": "amd64"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux", PlatformFilter(("linux",), ())),
        ("linux/amd64", PlatformFilter(("linux",), ("amd64",))),
        ("linux/arm64/v8", PlatformFilter(("linux",), ("arm64:v8",))),
    ],
)
def test_an_entry_reads_as_the_os_and_arch_flags_would(text: str, expected: PlatformFilter) -> None:
    assert entry_filter(text) == expected


def test_an_image_passes_when_it_matches_any_one_entry_not_the_cross_product() -> None:
    choice = PlatformChoice(choices=("linux/arm64/v8", "windows/amd64"))
    assert choice.active
    assert choice.matches(ARM64_V8) and choice.matches(WIN_AMD64)
    assert not choice.matches(AMD64), "linux/amd64 is not a cross product of the two entries"
    assert not choice.matches(ARM_V7)


def test_an_empty_choice_is_inactive_and_says_so_in_its_dict() -> None:
    assert not PlatformChoice().active
    assert PlatformChoice(choices=("linux",)).to_dict() == {
        "os": [],
        "arch": [],
        "platforms": ["linux"],
    }


def test_one_platform_or_a_list_and_repeats_are_dropped_in_order() -> None:
    assert platform_list("linux/amd64") == ("linux/amd64",)
    assert platform_list(["linux/arm64/v8", "linux/amd64", "linux/arm64/v8"]) == (
        "linux/arm64/v8",
        "linux/amd64",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "got \\[\\]"),
        (["linux/"], "got 'linux/'"),
        ("Linux/amd64", "got 'Linux/amd64'"),
        ("linux/arm64/v8/extra", "got 'linux/arm64/v8/extra'"),
        ([5], "got 5"),
    ],
)
def test_a_bad_platform_names_what_was_given(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        platform_list(value)
