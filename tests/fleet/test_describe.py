"""What Flower shows for each kind of task: readable arguments, never a credential."""

from __future__ import annotations

from syncer.fleet.broker import summarize_kwargs

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_a_blob_task_reads_as_key_value_pairs() -> None:
    text = summarize_kwargs({"plan": "p1", "dst": "reg/mirror/app", "digest": A, "size": 7})
    assert text == f"plan=p1 dst=reg/mirror/app digest={A} size=7"


def test_a_batch_lists_each_blob_with_its_size() -> None:
    blobs = [
        {"media_type": "x", "digest": A, "size": 1048576},
        {"media_type": "y", "digest": B, "size": 3},
    ]
    text = summarize_kwargs({"plan": "p1", "dst": "reg/mirror/app", "blobs": blobs})
    assert text == f"plan=p1 dst=reg/mirror/app blobs=2 blobs: {A} size=1048576, {B} size=3"


def test_a_rule_reads_as_source_to_destinations() -> None:
    rule = {"key": "src/lab/app", "destinations": [{"repo": "d1/app"}, {"repo": "d2/app"}]}
    assert summarize_kwargs({"rule": rule}) == "rule=src/lab/app -> d1/app, d2/app"


def test_a_chunk_of_images_names_its_first_and_last() -> None:
    jobs = [{"source": f"s/a:{i}", "dest": f"d/a:{i}"} for i in range(3)]
    assert summarize_kwargs({"jobs": jobs}) == "jobs=3 images (s/a:0 -> d/a:0 … s/a:2 -> d/a:2)"
