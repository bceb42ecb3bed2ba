"""The pinned mmap threshold (gen_service.memory): large transient buffers are mapped, so freeing them
gives the memory back, even after a larger block has been freed (glibc's dynamic threshold would then
serve them from the heap, which is how a long job's resident size crept up)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from gen_service.cli import main
from gen_service.memory import MAX_MMAP_THRESHOLD, pin_mmap_threshold

# Run in a fresh interpreter: the allocator's state is per process, and the test process's own must
# not change. Prints how many mapped blocks one 1 MiB buffer added, after a 4 MiB one was freed.
_PROBE = """
import ctypes, sys
from gen_service.memory import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pin":
    assert pin_mmap_threshold(64 * 1024)
big = bytearray(4 * 1024 * 1024)
del big
before = libc.mallinfo2().hblks
buffer = bytearray(1024 * 1024)
print(libc.mallinfo2().hblks - before)
"""


def _mapped_blocks_added(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout.strip())


def test_a_pinned_threshold_maps_large_buffers_after_a_larger_one_was_freed() -> None:
    assert _mapped_blocks_added("pin") == 1


def test_glibc_default_serves_them_from_the_heap_which_is_what_pinning_prevents() -> None:
    assert _mapped_blocks_added("default") == 0


def test_zero_leaves_the_allocator_alone_and_out_of_range_is_refused() -> None:
    assert pin_mmap_threshold(0) is False
    with pytest.raises(ValueError, match="mmap threshold"):
        pin_mmap_threshold(MAX_MMAP_THRESHOLD + 1)
    with pytest.raises(ValueError, match="mmap threshold"):
        pin_mmap_threshold(-1)


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["generate"]])
def test_a_bad_threshold_setting_is_a_usage_error_naming_it(command: list[str]) -> None:
    result = CliRunner().invoke(main, command, env={"TRACEGEN_MALLOC_MMAP_THRESHOLD": "-5"})
    assert result.exit_code == 2
    assert "malloc_mmap_threshold" in result.output
