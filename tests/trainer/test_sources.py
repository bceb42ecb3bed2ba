"""Reading exported corpora: the manifest and the shards are validated, errors name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.conftest import write_export
from trainer.sources import CorpusInputError, backbone_source, read_records, slice_source

TRACE = {"messages": [{"role": "user", "content": "hi"}], "tools": [], "meta": {}}


def _export(tmp_path: Path, n: int = 3) -> Path:
    return write_export(tmp_path / "c", "job", [TRACE] * n, shard_size=2)


def test_reads_every_line_in_order(tmp_path: Path) -> None:
    source = backbone_source(_export(tmp_path))
    assert source.name == "job" and source.kind == "backbone"
    records = list(read_records(source))
    assert [(r.file.name, r.line) for r in records] == [
        ("shard-00000.jsonl", 1),
        ("shard-00000.jsonl", 2),
        ("shard-00001.jsonl", 1),
    ]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", r"manifest\.json: not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"schema": "other/1", "shards": []}', "schema is 'other/1'"),
        ('{"schema": "tracegen.manifest/1"}', "'shards' must be a list"),
        ('{"schema": "tracegen.manifest/1", "shards": [{"file": "../x.jsonl"}]}', "plain name"),
        ('{"schema": "tracegen.manifest/1", "shards": [{"file": "gone.jsonl"}]}', r"gone\.jsonl: listed in"),
        ('{"schema": "tracegen.manifest/1", "shards": [{"file": "s.jsonl", "count": -1}]}', "non-negative"),
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: Path, manifest: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    (tmp_path / "s.jsonl").write_text("")
    with pytest.raises(CorpusInputError, match=message):
        backbone_source(tmp_path)


def test_missing_folder_or_manifest(tmp_path: Path) -> None:
    with pytest.raises(CorpusInputError, match="not a folder"):
        backbone_source(tmp_path / "nope")
    with pytest.raises(CorpusInputError, match=r"manifest\.json: missing"):
        backbone_source(tmp_path)


def test_bad_line_names_file_and_line_or_is_kept_as_text(tmp_path: Path) -> None:
    export = _export(tmp_path)
    shard = export / "shard-00001.jsonl"
    shard.write_text(json.dumps(TRACE) + "\n")  # keeps the count; the hash no longer matches
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["shards"][1].pop("sha256")
    (export / "manifest.json").write_text(json.dumps(manifest))
    (export / "shard-00000.jsonl").write_text(json.dumps(TRACE) + "\n{broken\n")
    manifest["shards"][0].pop("sha256")
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorpusInputError, match=r"shard-00000\.jsonl:2: not valid JSON"):
        list(read_records(backbone_source(export)))
    records = list(read_records(backbone_source(export), skip_bad_lines=True))
    assert records[1].value == "{broken\n"


def test_count_and_hash_mismatch(tmp_path: Path) -> None:
    export = _export(tmp_path)
    (export / "shard-00001.jsonl").write_text(json.dumps(TRACE) + "\n" + json.dumps(TRACE) + "\n")
    with pytest.raises(CorpusInputError, match="holds 2 traces, the manifest says 1"):
        list(read_records(backbone_source(export)))
    (export / "shard-00001.jsonl").write_text(json.dumps({**TRACE, "meta": {"x": 1}}) + "\n")
    with pytest.raises(CorpusInputError, match="sha256 differs"):
        list(read_records(backbone_source(export)))


def test_slice_must_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusInputError, match="slice 'style' is not a file"):
        slice_source("style", tmp_path)
