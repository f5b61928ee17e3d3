"""Control characters from a hostile source never reach a terminal or a log raw.

The source lists a tag carrying an ESC sequence and a newline that would forge
a log line, answers another tag with an ESC in its ``Content-Type`` (echoed in
the error), and a third with ``errors[]`` full of controls. One honest tag
proves the run still does its work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer.oci.reference import shown_tag
from tests.support.hostile import DOCKER_MANIFEST, HostileRegistry, Pool, Reply, make_image, sha256
from tests.support.runner import Outcome, run_syncer

pytestmark = pytest.mark.integration

#: A line a reader would take for syncer's own, if the newline got through.
FORGED = "FORGED-LINE 12:00:00 INFO synced everything"
HOSTILE_TAG = f"v2\x1b[31m\u202e\n{FORGED}"
#: What the terminal must never receive: ESC, BEL, CR, C1 CSI and a bidi override.
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def hostile_source(hostile: Pool) -> HostileRegistry:
    """A source with one honest tag and three hostile ones."""
    src = hostile()
    image = make_image("escaping")
    digest = sha256(b"v4")
    src.serve_image("lab/app", "v1", image)
    tags = ["v1", HOSTILE_TAG, "v3", "v4"]
    src.route("GET", r"^/v2/lab/app/tags/list$", lambda r: r.send_json(200, {"tags": tags}))

    def header_echo(r: Reply) -> None:
        # A manifest of no known type, whose Content-Type ends up in the error.
        r.send(200, b"{}", {"Content-Type": f"application/x\x1b[2J\x07\x9b31m{FORGED}"})

    def errors_payload(r: Reply) -> None:
        if r.method == "HEAD":  # the HEAD passes, so the GET's errors[] body is read
            r.send(200, b"", {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": digest})
            return
        errors = [{"code": "DENIED\x1b[2J", "message": f"no\r\n{FORGED}\x1b[0m"}]
        r.send_json(403, {"errors": errors})

    src.route("GET", r"^/v2/lab/app/manifests/v3$", header_echo)
    src.route("GET", rf"^/v2/lab/app/manifests/(v4|{digest})$", errors_payload)
    return src


def assert_escaped(text: str, where: str) -> None:
    """No raw control character, no forged line, and the hostile text shown escaped."""
    for ch in RAW:
        assert ch not in text, f"{where} carries {ch!r}"
    assert not [line for line in text.splitlines() if line.startswith("FORGED")], where
    assert "\\x1b" in text, f"{where} does not show the hostile text at all"


@pytest.mark.parametrize("to_file", [False, True], ids=["stderr", "log-file"])
def test_hostile_names_and_messages_are_escaped(
    hostile: Pool,
    registry_factory: Callable[..., Any],
    env: dict[str, str],
    tmp_path: Path,
    to_file: bool,
) -> None:
    src = hostile_source(hostile)
    dst = registry_factory()
    images = tmp_path / "images.yaml"
    images.write_text(yaml.safe_dump({f"{src.host}/lab/app": f"{dst.host}/mirror/app"}))
    log = tmp_path / "syncer.log"
    args = ["sync", "--images", str(images), "--cache", "none", "-r", "0"]
    outcome: Outcome = run_syncer(
        [*args, *(["--log", str(log)] if to_file else [])], env=env, deadline=60
    )

    assert outcome.code == 1 and not outcome.killed, outcome.text
    assert outcome.elapsed < 30 and outcome.peak_rss_mib < 300
    # stdout is the summary: three failures, each on a line of its own.
    assert "images: 1 synced, 0 skipped, 3 failed (of 4)" in outcome.out, outcome.text
    assert_escaped(outcome.out, "the summary")
    assert "application/x\\x1b[2J\\x07\\x9b31mFORGED" in outcome.out, "the header echo"
    assert "DENIED\\x1b[2J" in outcome.out, "errors[] reaches the summary escaped"
    if to_file:
        assert_escaped(log.read_text(), "the --log file")
        assert "failed" not in outcome.err, "log lines went to stderr, not the file"
    else:
        assert_escaped(outcome.err, "stderr")
    # Only the honest tag was committed at the destination.
    listed = requests.get(f"{dst.url}/v2/mirror/app/tags/list", timeout=5).json()
    assert listed["tags"] == ["v1"]


def test_json_output_escapes_controls_itself(
    hostile: Pool, registry_factory: Callable[..., Any], env: dict[str, str], tmp_path: Path
) -> None:
    src = hostile_source(hostile)
    dst = registry_factory()
    images = tmp_path / "images.yaml"
    images.write_text(yaml.safe_dump({f"{src.host}/lab/app": f"{dst.host}/mirror/app"}))
    outcome = run_syncer(
        ["sync", "--images", str(images), "--cache", "none", "-r", "0", "--output", "json"],
        env=env,
        deadline=60,
    )

    assert outcome.code == 1 and not outcome.killed, outcome.text
    for ch in RAW:
        assert ch not in outcome.out
    report = json.loads(outcome.out)
    assert report["images"]["failed"] == 3
    # A listed tag outside the tag grammar never becomes a reference: the report
    # names it escaped (syncer.oci.reference.shown_tag), as every output does.
    sources = {f["source"] for f in report["failed"]}
    assert f"{src.host}/lab/app:{shown_tag(HOSTILE_TAG)}" in sources
