"""Live progress per behaviour: a redrawn table on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import click

from gen_service.service import BehaviourProgress, CoordinatorService


class ProgressDisplay:
    def __init__(
        self, service: CoordinatorService, job_id: int, *, interactive: bool, interval_s: float | None = None
    ) -> None:
        self._service = service
        self._job_id = job_id
        self._interactive = interactive
        self._interval_s = interval_s or (1.0 if interactive else 5.0)
        self._drawn_lines = 0
        self._started = time.perf_counter()
        self._first_accepted: int | None = None

    async def start(self) -> None:
        """Remember where the run started, so the rate counts only this run's samples."""
        self._first_accepted = sum(r.accepted for r in await self._service.progress(self._job_id))
        self._started = time.perf_counter()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)
            await self._render()

    async def render_final(self) -> None:
        await self._render()

    async def _render(self) -> None:
        rows = await self._service.progress(self._job_id)
        accepted = sum(r.accepted for r in rows)
        if self._first_accepted is None:
            self._first_accepted = accepted
        target = sum(r.target for r in rows)
        elapsed = max(1e-6, time.perf_counter() - self._started)
        rate = (accepted - self._first_accepted) / elapsed
        summary = (
            f"accepted {accepted}/{target} ({100 * accepted / max(1, target):.0f}%), "
            f"rejected {sum(r.rejected for r in rows)}, in flight {sum(r.in_flight for r in rows)}, "
            f"{rate:.1f} samples/s"
        )
        if not self._interactive:
            click.echo(summary)
            return
        lines = [_row(r) for r in rows] + [summary]
        if self._drawn_lines:
            sys.stdout.write(f"\x1b[{self._drawn_lines}F\x1b[J")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        self._drawn_lines = len(lines)


def _row(r: BehaviourProgress) -> str:
    width = 20
    filled = int(width * r.accepted / r.target) if r.target else width
    bar = "█" * filled + "·" * (width - filled)
    return (
        f"{r.layer:<15} {r.behaviour:<32} {bar} {r.accepted:>5}/{r.target:<5} "
        f"in flight {r.in_flight:>3}  pass {r.pass_rate:4.0%}"
    )
