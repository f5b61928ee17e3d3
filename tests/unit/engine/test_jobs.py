"""Units of work and their results (syncer.engine.jobs): JSON round trips, what they leave out."""

from __future__ import annotations

import json

import pytest

from syncer.engine.jobs import ImageResult, TagJob
from syncer.errors import ConfigError
from syncer.oci.reference import ImageRef

SRC = ImageRef.parse("quay.io/org/app:v1")
DST = ImageRef.parse("harbor.example.com/mirror/app:v1")


def test_a_job_without_platforms_keeps_the_old_keys() -> None:
    job = TagJob(SRC, DST, "quay.io/org/app")
    data = job.to_dict()
    assert data == {
        "source": "quay.io/org/app:v1",
        "dest": "harbor.example.com/mirror/app:v1",
        "rule": "quay.io/org/app",
    }
    assert TagJob.from_dict(json.loads(json.dumps(data))) == job


def test_a_job_with_platforms_round_trips_through_json() -> None:
    job = TagJob(SRC, DST, "r", ("linux/amd64", "linux/arm64/v8"))
    data = json.loads(json.dumps(job.to_dict()))
    assert data["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert TagJob.from_dict(data) == job


def test_a_decoded_job_checks_its_platforms_and_rule() -> None:
    data = {"source": str(SRC), "dest": str(DST)}
    assert TagJob.from_dict(data).rule == ""
    with pytest.raises(ConfigError, match="linux/amd64"):
        TagJob.from_dict({**data, "platforms": ["Linux/AMD64"]})


def test_the_label_names_source_then_destination() -> None:
    assert TagJob(SRC, DST).label == "quay.io/org/app:v1 -> harbor.example.com/mirror/app:v1"


def test_a_result_round_trips_every_field() -> None:
    result = ImageResult("s", "d", "failed", "boom", bytes=7, rule="r", transient=True)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["transient"] is True and data["bytes"] == 7
    assert ImageResult.from_dict(data) == result
