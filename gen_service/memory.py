"""Process memory: keep a long job's resident size flat.

glibc serves an allocation above its *mmap threshold* with a mapping of its own, handed back to the
kernel when freed; anything smaller comes from the heap, which only shrinks from its top. The
threshold starts at 128 KiB but is dynamic: every freed mapped block raises it to that block's size
(up to 32 MiB). A coordinator parses submit bodies of about a megabyte (64 results of ~15 KB), so after
the first one every later body, and its parsed copies, lands in the heap between long-lived objects.
As Postgres slows on growing tables the batches fill up, each new peak leaves holes the heap cannot
return, and the resident size ratchets up over the whole job: 112 MiB at 10k samples, 132 MiB at
100k. With the threshold pinned, large transient buffers are mapped and unmapped again and the
resident size stays flat (bench/throughput.py `--rss-interval`; figures in bench/README.md).
"""

from __future__ import annotations

import ctypes
import platform

# mallopt(3) parameter numbers from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3

# glibc refuses thresholds above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024


def pin_mmap_threshold(threshold_bytes: int) -> bool:
    """Fix glibc's mmap threshold at `threshold_bytes`, which also switches off its dynamic growth.

    Returns whether it took effect: False for 0 (leave the allocator alone) and on a C library that
    is not glibc (musl, macOS), where there is nothing to pin. Affects the whole process; call it once
    at start-up, before the first large allocation matters.
    """
    if not 0 <= threshold_bytes <= MAX_MMAP_THRESHOLD:
        raise ValueError(
            f"mmap threshold must be between 0 and {MAX_MMAP_THRESHOLD} bytes, not {threshold_bytes}"
        )
    if threshold_bytes == 0 or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(threshold_bytes)))
