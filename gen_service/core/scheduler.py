"""Deficit scheduler: which behaviours get the next leases. Pure arithmetic, no I/O.

For one behaviour of a job:
- pass rate p = (passed + 1) / (completed + 2): the measured share of results that pass the gates,
  with a Laplace prior so a new behaviour starts at 1/2;
- remaining = target − accepted (never negative);
- need = remaining − p × in_flight: the deficit after counting what the leases in flight are expected
  to bring;
- in-flight cap = ⌈remaining ÷ p⌉: a low pass rate earns more leases, but never so many that the tail
  floods (at p = 1 the cap equals what is left).

`allocate` hands out k leases by water-filling: each lease goes to the behaviour with the largest
need ÷ target (relative deficit) after the leases already given in this call, so the corpus stays
balanced at every moment of an interrupted run. Invariants: no behaviour gets leases beyond its cap;
a behaviour with remaining = 0 gets none; the sum of the allocation is at most k.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BehaviourState", "allocate"]


@dataclass(frozen=True, slots=True)
class BehaviourState:
    name: str
    target: int
    accepted: int
    passed: int  # results that passed the gates (stored or surplus)
    completed: int  # results with a verdict
    in_flight: int

    @property
    def pass_rate(self) -> float:
        return (self.passed + 1) / (self.completed + 2)

    @property
    def remaining(self) -> int:
        return max(0, self.target - self.accepted)

    @property
    def need(self) -> float:
        return self.remaining - self.pass_rate * self.in_flight

    @property
    def in_flight_cap(self) -> int:
        if self.remaining == 0:
            return 0
        return math.ceil(self.remaining / self.pass_rate)


def allocate(states: Sequence[BehaviourState], k: int) -> dict[str, int]:
    """Split up to `k` new leases across behaviours; returns only non-zero counts."""
    if k <= 0:
        return {}
    heap: list[tuple[float, str, int]] = []
    by_name = {state.name: state for state in states}
    for state in states:
        if state.target > 0 and state.in_flight < state.in_flight_cap:
            heap.append((-state.need / state.target, state.name, 0))
    heapq.heapify(heap)
    given: dict[str, int] = {}
    while heap and k > 0:
        _, name, count = heapq.heappop(heap)
        state = by_name[name]
        count += 1
        given[name] = count
        k -= 1
        if state.in_flight + count < state.in_flight_cap:
            need_after = state.need - state.pass_rate * count
            heapq.heappush(heap, (-need_after / state.target, name, count))
    return given
