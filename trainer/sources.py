"""Reading the inputs of a corpus build: exported corpora (the backbone) and curated JSONL slices.

Both are streamed line by line; nothing holds more than one trace at a time. An exported corpus is a
folder with `manifest.json` (schema `tracegen.manifest/1`, written by `gen_service.export`) and the
shards it lists. It is validated as it is read: the manifest must decode and name its shards; every
shard must exist, hold the number of lines the manifest says and hash to its `sha256`. A line that is
not JSON raises `CorpusInputError` naming the file and the line, unless the caller asks to keep going
(`skip_bad_lines`), in which case the line is yielded as text and the gates drop it as
`malformed_output`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gen_service.serialization import JSONDecodeError, loads

__all__ = [
    "MANIFEST_SCHEMA",
    "CorpusInputError",
    "Record",
    "Source",
    "backbone_source",
    "read_records",
    "slice_source",
]

MANIFEST_SCHEMA = "tracegen.manifest/1"


class CorpusInputError(ValueError):
    """An input cannot be used; the message names the file (and line) and the problem."""


@dataclass(frozen=True, slots=True)
class Source:
    """One input of a build. `kind` is "backbone" (an exported corpus) or "slice" (curated JSONL)."""

    name: str
    kind: str
    path: Path
    files: tuple[tuple[Path, int | None, str | None], ...]  # (file, expected lines, expected sha256)
    manifest: dict[str, Any] | None = None  # the backbone's manifest, as read

    @property
    def content_sha256(self) -> str | None:
        value = self.manifest.get("content_sha256") if self.manifest else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Record:
    """One input line: the decoded value (or the raw text when it is not JSON) and where it came from."""

    source: Source
    file: Path
    line: int  # 1-based
    value: Any


def backbone_source(path: Path, name: str | None = None) -> Source:
    """Validate an exported corpus folder's manifest and list its shards. Raises CorpusInputError."""
    if not path.is_dir():
        raise CorpusInputError(f"{path}: not a folder (an exported corpus has manifest.json and shards)")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise CorpusInputError(f"{manifest_path}: missing (is {path} an exported corpus?)")
    try:
        manifest = loads(manifest_path.read_bytes())
    except JSONDecodeError as exc:
        raise CorpusInputError(f"{manifest_path}: not valid JSON: {exc}") from None
    except OSError as exc:
        raise CorpusInputError(f"{manifest_path}: cannot be read: {exc}") from None
    if not isinstance(manifest, dict):
        raise CorpusInputError(f"{manifest_path}: must be a JSON object")
    schema = manifest.get("schema")
    if schema != MANIFEST_SCHEMA:
        raise CorpusInputError(f"{manifest_path}: schema is {schema!r}, expected {MANIFEST_SCHEMA!r}")
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        raise CorpusInputError(f"{manifest_path}: 'shards' must be a list")
    files: list[tuple[Path, int | None, str | None]] = []
    for position, shard in enumerate(shards):
        where = f"{manifest_path}: shards[{position}]"
        if not isinstance(shard, dict) or not isinstance(shard.get("file"), str):
            raise CorpusInputError(f"{where} must be an object with a 'file' name")
        file_name = shard["file"]
        if "/" in file_name or "\\" in file_name or file_name.startswith("."):
            raise CorpusInputError(
                f"{where}: file {file_name!r} must be a plain name inside the corpus folder"
            )
        count = shard.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise CorpusInputError(f"{where}: 'count' must be a non-negative integer")
        digest = shard.get("sha256")
        if digest is not None and not isinstance(digest, str):
            raise CorpusInputError(f"{where}: 'sha256' must be a string")
        shard_path = path / file_name
        if not shard_path.is_file():
            raise CorpusInputError(f"{shard_path}: listed in {manifest_path} but missing")
        files.append((shard_path, count, digest))
    job = manifest.get("job")
    default_name = job.get("name") if isinstance(job, dict) else None
    return Source(
        name=name or (default_name if isinstance(default_name, str) and default_name else path.name),
        kind="backbone",
        path=path,
        files=tuple(files),
        manifest=manifest,
    )


def slice_source(name: str, path: Path) -> Source:
    """A curated slice: one JSONL file of traces. Raises CorpusInputError when it is not a file."""
    if not path.is_file():
        raise CorpusInputError(f"{path}: slice {name!r} is not a file")
    return Source(name=name, kind="slice", path=path, files=((path, None, None),))


def read_records(source: Source, *, skip_bad_lines: bool = False) -> Iterator[Record]:
    """Every non-blank line of the source, decoded, in file order.

    Raises CorpusInputError naming the file (and line) on a line that is not JSON (unless
    `skip_bad_lines`), a shard whose line count or sha256 differs from the manifest's, or a file that
    cannot be read. The count and hash checks happen at the end of each shard, after its lines.
    """
    for file, expected_count, expected_sha in source.files:
        digest = hashlib.sha256()
        lines = 0
        try:
            handle = file.open("rb")
        except OSError as exc:
            raise CorpusInputError(f"{file}: cannot be read: {exc}") from None
        with handle:
            for number, raw in enumerate(handle, start=1):
                digest.update(raw)
                if not raw.strip():
                    continue
                lines += 1
                try:
                    value: Any = loads(raw)
                except JSONDecodeError as exc:
                    if not skip_bad_lines:
                        raise CorpusInputError(f"{file}:{number}: not valid JSON: {exc}") from None
                    value = raw.decode("utf-8", errors="replace")
                yield Record(source=source, file=file, line=number, value=value)
        if expected_count is not None and lines != expected_count:
            raise CorpusInputError(f"{file}: holds {lines} traces, the manifest says {expected_count}")
        if expected_sha is not None and digest.hexdigest() != expected_sha:
            raise CorpusInputError(f"{file}: sha256 differs from the manifest's (file changed or truncated)")
