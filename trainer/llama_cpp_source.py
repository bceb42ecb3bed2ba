"""The pinned llama-cpp-python source package: the llama.cpp it vendors, and what ships inside it.

One source serves the whole trainer: the real Qwen vocabulary (`models/ggml-vocab-qwen2.gguf`) and the real
chat templates (`models/templates/*.jinja`) for tests and fixtures, and llama.cpp itself (its converter,
`gguf-py`, and the sources the quantize/imatrix/server programs are built from).

Invariants:
- The package is fetched once per version with `pip download` (PyPI is the only place it comes from) and
  unpacked into `<cache>/llama-cpp-python/<version>/`; a folder there is complete or absent (unpacked
  beside it, then renamed in), so a killed fetch is never mistaken for a finished one.
- Concurrent callers (parallel test processes) serialise on a lock file; the loser finds the winner's work.
- Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LlamaCppSourceError",
    "cache_lock",
    "chat_template_path",
    "default_cache_root",
    "llama_cpp_source",
    "vocab_gguf_path",
]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# Only these parts of the 217 MB source tree are unpacked: the vendored llama.cpp without its
# per-backend kernels for hardware we never build for, to keep the cache small and the unpack quick.
_VENDOR_PREFIX = "vendor/llama.cpp/"


class LlamaCppSourceError(RuntimeError):
    """The pinned source package could not be fetched or unpacked; the message says what to do."""


def default_cache_root() -> Path:
    """`$TRACEGEN_CACHE_DIR`, else `$XDG_CACHE_HOME/tracegen`, else `~/.cache/tracegen`.

    Read once by the command line and passed down; library code takes the root as an argument.
    """
    explicit = os.environ.get("TRACEGEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tracegen"


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def llama_cpp_source(cache_root: Path, version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    """The vendored llama.cpp tree of llama-cpp-python `version`, fetched and unpacked on first use."""
    home = cache_root / "llama-cpp-python" / version
    tree = home / "llama.cpp"
    if (tree / "CMakeLists.txt").is_file():
        return tree
    with cache_lock(home.parent / f"{version}.lock"):
        if (tree / "CMakeLists.txt").is_file():
            return tree
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=home, prefix=".fetch-") as scratch:
            archive = _download_sdist(Path(scratch), version)
            staging = Path(scratch) / "llama.cpp"
            _unpack_vendor(archive, staging)
            if tree.exists():  # a leftover of an older layout: never ours to keep half-built
                shutil.rmtree(tree)
            staging.rename(tree)
    return tree


def vocab_gguf_path(cache_root: Path, name: str = "qwen2") -> Path:
    """`models/ggml-vocab-<name>.gguf` of the pinned source: a vocabulary-only GGUF (no weights)."""
    path = llama_cpp_source(cache_root) / "models" / f"ggml-vocab-{name}.gguf"
    if not path.is_file():
        raise LlamaCppSourceError(f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} ships no {path.name}")
    return path


def chat_template_path(cache_root: Path, name: str) -> Path:
    """`models/templates/<name>.jinja` of the pinned source (e.g. `Qwen-Qwen3-0.6B`, `Qwen3-Coder`)."""
    path = llama_cpp_source(cache_root) / "models" / "templates" / f"{name}.jinja"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.jinja"))
        raise LlamaCppSourceError(f"no chat template {name!r}; the package ships: {', '.join(available)}")
    return path


def _download_sdist(into: Path, version: str) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"llama-cpp-python=={version}",
        "-d",
        str(into),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = sorted(into.glob("llama_cpp_python-*.tar.gz"))
    if result.returncode != 0 or not archives:
        raise LlamaCppSourceError(
            f"could not fetch the llama-cpp-python {version} source package from the package index "
            f"(`{' '.join(command[2:])}` exited {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return archives[0]


def _unpack_vendor(archive: Path, staging: Path) -> None:
    """Unpack the archive's `vendor/llama.cpp/` into `staging`, refusing any member that would land
    outside it (a link or `..` path in a tampered archive)."""
    staging.mkdir()
    root = staging.resolve()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            _, sep, inside = member.name.partition("/")
            if not sep or not inside.startswith(_VENDOR_PREFIX):
                continue
            relative = inside[len(_VENDOR_PREFIX) :]
            if not relative:
                continue
            target = (staging / relative).resolve()
            if root not in target.parents:
                raise LlamaCppSourceError(f"refusing archive member outside the tree: {member.name}")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                if member.mode & 0o111:
                    target.chmod(0o755)
            # Links and devices are skipped: the build needs none, and they are how archives escape.
