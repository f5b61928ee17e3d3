"""Air-gapped mirrors: ``syncer sync`` to and from OCI image layouts and archives.

The lab's mixed set goes registry -> a tree of layouts -> a second registry,
and must arrive byte for byte; incremental exports are measured in bytes;
skopeo and podman read what syncer writes, and syncer imports what skopeo wrote.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.images import ImageSet, build_image_set, push_image_set
from tests.support.embedded import RunSync, seed, sync_config
from tests.support.layouts import (
    blob_files,
    export_rules,
    import_rules,
    layout_index,
    podman,
    same_tags,
    skopeo,
)
from tests.support.referrers import same_referrers, sign, subjects
from tests.support.registries import LabRegistry
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration

Reader = Callable[[LabRegistry], RegistryReader]


def _config(path: Path, rules: dict[str, object], *hosts: str) -> Path:
    return sync_config(path, rules, *hosts)


def test_the_mixed_set_crosses_the_gap_byte_identical(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set)
    arts = [a for s in subjects(image_set) for a in sign(source.url, s, "fallback")]
    repos = image_set.repos
    usb = tmp_path / "usb"

    out = run_sync(
        _config(tmp_path / "export.yaml", export_rules(source.host, repos, usb), source.host),
        "--referrers",
        "--record",
        tmp_path / "export.json",
        "--output",
        "json",
    )
    assert out.code == 0, out.err
    back = run_sync(
        _config(tmp_path / "import.yaml", import_rules(usb, repos, dest.host), dest.host),
        "--referrers",
        "--output",
        "json",
    )

    assert back.code == 0, back.err
    fallback_tags = len({a.subject for a in arts})  # each subject's sha256-<hex> index
    assert same_tags(reader(source), reader(dest), repos) == len(image_set.images) + fallback_tags
    same_referrers(source.url, dest.url, arts, src_api=False, dst_api=False, repo="lab/multi")
    # The base layer all lab/app* images share is one file, hard-linked into each layout.
    files = blob_files(usb)
    by_inode: dict[int, set[Path]] = {}
    for path, st in files.items():
        by_inode.setdefault(st.st_ino, set()).add(path)
    assert any(len({p.parts[-4] for p in paths}) >= 3 for paths in by_inode.values())
    written = sum(files[next(iter(paths))].st_size for paths in by_inode.values())
    assert written < sum(st.st_size for st in files.values())
    # The record lists every blob of every layout, and each layout's tags.
    record = json.loads((tmp_path / "export.json").read_text())
    assert set(record["blobs"]) == {f"sha256:{p.name}" for p in files}
    assert record["layouts"][f"oci:{usb}/lab/multi"]["nested"] == (
        image_set.get("lab/multi", "nested").manifests[-1].digest
    )
    assert not any(usb.rglob(".syncer-partial"))


def _new_tag(source: LabRegistry) -> tuple[ImageSet, set[str]]:
    """Push ``lab/app0:v3`` (a third tag of the same build); return it and its new blobs."""
    three = build_image_set(0, tags_per_repo=3)
    v3 = three.get("lab/app0", "v3")
    push_image_set(source.url, ImageSet((v3,)))
    older = build_image_set(0).blobs()
    return ImageSet((v3,)), {b.digest for b in v3.blobs} - set(older)


def test_a_second_export_writes_only_the_new_tags_blobs(
    source: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set)
    repos, usb = image_set.repos, tmp_path / "usb"
    config = _config(tmp_path / "c.yaml", export_rules(source.host, repos, usb), source.host)
    first = run_sync(config, "--output", "json", cache=False)
    assert first.code == 0, first.err
    before = blob_files(usb)
    v3, new = _new_tag(source)
    sizes = {b.digest: b.size for b in v3.images[0].blobs}

    second = run_sync(config, "--output", "json", cache=False)

    assert second.code == 0, second.err
    report = second.report
    assert report["bytes"]["done"] == sum(sizes[d] for d in new)
    assert report["bytes"]["skipped"] == sum(sizes.values()) - sum(sizes[d] for d in new)
    assert [r["source"] for r in second.results("synced")] == [f"{source.host}/lab/app0:v3"]
    after = blob_files(usb)
    added = {p for p in after if p not in before}
    manifest = v3.images[0].manifests[-1].digest
    assert {f"sha256:{p.name}" for p in added} == new | {manifest}
    for path, st in before.items():  # nothing already there was written again
        assert (after[path].st_ino, after[path].st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


def test_since_leaves_out_what_the_last_export_carried_and_imports_stack(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2")
    day1, day2 = tmp_path / "day1", tmp_path / "day2"
    rules = {f"{source.host}/lab/app0": None}
    export1 = _config(
        tmp_path / "e1.yaml", {**rules, f"{source.host}/lab/app0": f"oci:{day1}/app0"}, source.host
    )
    export2 = _config(
        tmp_path / "e2.yaml", {f"{source.host}/lab/app0": f"oci:{day2}/app0"}, source.host
    )
    assert run_sync(export1, "--record", tmp_path / "day1.json").code == 0
    v3, new = _new_tag(source)

    dry = run_sync(export2, "--since", tmp_path / "day1.json", "--dry-run")
    assert not day2.exists(), "a dry run writes nothing"
    sizes = {b.digest: b.size for b in v3.images[0].blobs}
    assert f"({sum(sizes[d] for d in new)} bytes) to transfer" in dry.out
    out = run_sync(
        export2,
        "--since",
        tmp_path / "day1.json",
        "--record",
        tmp_path / "day2.json",
        "--output",
        "json",
    )

    assert out.code == 0, out.err
    on_disk = {f"sha256:{p.name}" for p in blob_files(day2)}
    v1, v2 = (image_set.get("lab/app0", t).manifests[-1].digest for t in ("v1", "v2"))
    assert on_disk == new | {v3.images[0].manifests[-1].digest, v1, v2}
    # Imported in order, the two disks give the destination every tag.
    for day in (day1, day2):
        cfg = _config(
            tmp_path / f"i-{day.name}.yaml", {f"oci:{day}/app0": f"{dest.host}/lab/app0"}, dest.host
        )
        run = run_sync(cfg, "--output", "json")
        assert run.code == 0, run.err
    assert same_tags(reader(source), reader(dest), ["lab/app0"]) == 3


def test_skopeo_and_podman_read_what_syncer_writes(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/multi:oci", "lab/multi:index", "lab/multi:nested")
    layout = tmp_path / "usb" / "multi"
    cfg = _config(tmp_path / "c.yaml", {f"{source.host}/lab/multi": f"oci:{layout}"}, source.host)
    assert run_sync(cfg).code == 0

    for tag in ("oci", "index", "nested"):
        want = image_set.get("lab/multi", tag).manifests[-1]
        raw = skopeo("inspect", "--raw", f"oci:{layout}:{tag}").stdout
        assert raw.encode() == want.body, tag
        if tag == "nested":
            continue  # skopeo 1.9 cannot copy an index of indexes ("Unexpectedly received a...")
        skopeo(
            "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{layout}:{tag}", f"docker://{dest.host}/skopeo/multi:{tag}",
        )  # fmt: skip
        assert reader(dest).get_manifest("skopeo/multi", tag)[0] == want.body
    inspected = json.loads(skopeo("inspect", f"oci:{layout}:oci").stdout)
    assert inspected["Digest"] == image_set.get("lab/multi", "oci").manifests[-1].digest
    # podman refuses a run root longer than 50 characters: pytest's tmp_path is longer.
    with tempfile.TemporaryDirectory(prefix="syncer-podman-") as store:
        image_id = podman(Path(store), "pull", "-q", f"oci:{layout}:oci").stdout.split()[-1]
        digest = podman(Path(store), "image", "inspect", "--format", "{{.Digest}}", image_id)
    assert digest.stdout.strip() == inspected["Digest"]


def test_syncer_imports_what_skopeo_writes_byte_identical(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/multi:index", "lab/multi:oci")
    layout = tmp_path / "skopeo"
    for tag in ("index", "oci"):
        skopeo(
            "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
            f"docker://{source.host}/lab/multi:{tag}", f"oci:{layout}:{tag}",
        )  # fmt: skip
    cfg = _config(tmp_path / "c.yaml", {f"oci:{layout}": f"{dest.host}/lab/multi"}, dest.host)

    run = run_sync(cfg, "--output", "json")

    assert run.code == 0, run.err
    assert same_tags(reader(source), reader(dest), ["lab/multi"]) == 2


def test_an_archive_goes_both_ways_and_skopeo_reads_it(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(source, image_set, "lab/multi:index", "lab/multi:oci")
    tar = tmp_path / "multi.tar"
    out = _config(
        tmp_path / "o.yaml", {f"{source.host}/lab/multi": f"oci-archive:{tar}"}, source.host
    )
    back = _config(tmp_path / "b.yaml", {f"oci-archive:{tar}": f"{dest.host}/lab/multi"}, dest.host)

    assert run_sync(out).code == 0
    assert tar.is_file() and not list(tmp_path.glob("*.syncer-staging"))
    raw = skopeo("inspect", "--raw", f"oci-archive:{tar}:index").stdout
    assert raw.encode() == image_set.get("lab/multi", "index").manifests[-1].body
    assert run_sync(back).code == 0
    assert same_tags(reader(source), reader(dest), ["lab/multi"]) == 2


@pytest.mark.parametrize(
    ("key", "value", "tags"),
    [
        ("{layout}:index,oci", "{dest}/lab/multi", ["index", "oci"]),
        ("{layout}:/^(list|nested)$/", "{dest}/lab/multi", ["list", "nested"]),
        ("{layout}", {"to": "{dest}/lab/multi", "include": ["/^oc/"]}, ["oci"]),
        ("{layout}:oci", "{dest}/lab/multi:renamed", ["renamed"]),
    ],
    ids=["tag-list", "regex", "object-form", "renamed"],
)
def test_every_rule_form_reads_a_layout(
    key: str,
    value: object,
    tags: list[str],
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Reader,
    tmp_path: Path,
) -> None:
    seed(
        source, image_set, "lab/multi:index", "lab/multi:oci", "lab/multi:list", "lab/multi:nested"
    )
    layout = f"oci:{tmp_path}/multi"
    assert (
        run_sync(
            _config(tmp_path / "e.yaml", {f"{source.host}/lab/multi": layout}, source.host)
        ).code
        == 0
    )
    fill = {"layout": layout, "dest": dest.host}
    rule_value = (
        value.format(**fill)
        if isinstance(value, str)
        else {k: v.format(**fill) if isinstance(v, str) else v for k, v in value.items()}  # type: ignore[attr-defined]
    )

    run = run_sync(_config(tmp_path / "i.yaml", {key.format(**fill): rule_value}, dest.host))

    assert run.code == 0, run.err
    assert reader(dest).tags("lab/multi") == sorted(tags)


def test_a_platform_filter_writes_a_filtered_index_with_its_children(
    source: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:list")
    layout = tmp_path / "multi"
    cfg = _config(tmp_path / "c.yaml", {f"{source.host}/lab/multi": f"oci:{layout}"}, source.host)

    assert run_sync(cfg, "--arch", "arm64").code == 0

    entry = layout_index(layout)["manifests"][0]
    top = json.loads((layout / "blobs" / "sha256" / entry["digest"][7:]).read_bytes())
    assert [m["platform"]["architecture"] for m in top["manifests"]] == ["arm64"]
    child = top["manifests"][0]["digest"][7:]
    assert (layout / "blobs" / "sha256" / child).is_file()


def test_a_layout_deleted_behind_the_caches_back_is_written_again_whole(
    source: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:index")
    layout = tmp_path / "multi"
    cfg = _config(tmp_path / "c.yaml", {f"{source.host}/lab/multi": f"oci:{layout}"}, source.host)
    assert run_sync(cfg).code == 0
    wanted = {p.name for p in blob_files(layout)}
    shutil.rmtree(layout)

    # The blob cache still says the layout holds every blob; the manifest push
    # finds them missing, as a registry would, and the engine copies them again.
    again = run_sync(cfg)

    assert again.code == 0, again.err
    assert {p.name for p in blob_files(layout)} == wanted
    raw = layout / "blobs" / "sha256" / layout_index(layout)["manifests"][0]["digest"][7:]
    assert raw.read_bytes() == image_set.get("lab/multi", "index").manifests[-1].body
