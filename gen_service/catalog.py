"""Loading the behaviour pool and the tool vocabulary from `behaviours/` (the I/O side of core).

`load_vocabulary` reads `behaviours/vocabulary.toml`; `load_behaviours` reads every
`behaviours/<layer>/<name>.toml`. Both validate through core (`Vocabulary.from_mapping`,
`Behaviour.from_mapping`) and raise ValueError naming the file on any problem. Behaviour files are
also cross-checked against the folder's vocabulary: a signature may only name vocabulary tools.
The no-argument calls (the installed data folder) are cached; pass a path to read afresh.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from gen_service.core.behaviours import LAYERS, Behaviour
from gen_service.core.vocabulary import Vocabulary
from gen_service.paths import behaviours_dir

__all__ = ["VOCABULARY_FILE", "load_behaviours", "load_vocabulary"]

VOCABULARY_FILE = "vocabulary.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from None


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The tool vocabulary from `path` (default: the installed `behaviours/vocabulary.toml`)."""
    if path is None:
        return _default_vocabulary()
    try:
        return Vocabulary.from_mapping(_read_toml(path))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None


@lru_cache(maxsize=1)
def _default_vocabulary() -> Vocabulary:
    return load_vocabulary(behaviours_dir() / VOCABULARY_FILE)


def load_behaviours(directory: Path | None = None) -> dict[str, Behaviour]:
    """Every behaviour under `directory` (default: the installed `behaviours/`), by name.

    Ordered by layer (`LAYERS`) then name. A file's `name` must equal its file name and its `layer`
    its folder; a `.toml` file in a folder that is not a layer, a duplicate name, or a signature that
    names a tool outside the vocabulary raises ValueError naming the file.
    """
    if directory is None:
        return dict(_default_behaviours())
    return _load_behaviours(directory)


@lru_cache(maxsize=1)
def _default_behaviours() -> dict[str, Behaviour]:
    return _load_behaviours(behaviours_dir())


def _load_behaviours(directory: Path) -> dict[str, Behaviour]:
    if not directory.is_dir():
        raise ValueError(f"{directory}: behaviours folder not found")
    vocabulary_path = directory / VOCABULARY_FILE
    vocabulary = load_vocabulary(vocabulary_path) if vocabulary_path.is_file() else None
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        if sub.name not in LAYERS and any(sub.glob("*.toml")):
            raise ValueError(f"{sub}: folder is not a layer (one of {list(LAYERS)})")
    found: list[Behaviour] = []
    names: dict[str, Path] = {}
    for layer in LAYERS:
        folder = directory / layer
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                behaviour = Behaviour.from_mapping(_read_toml(path), layer_folder=layer)
            except ValueError as exc:
                message = str(exc)
                raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None
            if behaviour.name != path.stem:
                raise ValueError(f"{path}: field 'name' is {behaviour.name!r}, must equal the file name")
            if behaviour.name in names:
                first = names[behaviour.name]
                raise ValueError(f"{path}: behaviour {behaviour.name!r} is also defined in {first}")
            if vocabulary is not None:
                unknown = sorted(behaviour.tool_names() - vocabulary.names)
                if unknown:
                    raise ValueError(f"{path}: names tool(s) outside the vocabulary: {unknown}")
            names[behaviour.name] = path
            found.append(behaviour)
    found.sort(key=lambda b: (LAYERS.index(b.layer), b.name))
    return {b.name: b for b in found}
