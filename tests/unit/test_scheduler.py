from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gen_service.core.scheduler import BehaviourState, allocate


def state(name: str, target: int, accepted: int = 0, passed: int = 0, completed: int = 0, in_flight: int = 0):
    return BehaviourState(name, target, accepted, passed, completed, in_flight)


def test_pass_rate_has_laplace_prior() -> None:
    assert state("a", 10).pass_rate == 0.5
    assert state("a", 10, passed=8, completed=8).pass_rate == 0.9


def test_largest_relative_deficit_goes_first() -> None:
    states = [state("half_done", 10, accepted=5), state("untouched", 10), state("big", 100, accepted=90)]
    assert allocate(states, 1) == {"untouched": 1}


def test_water_filling_balances_relative_deficits() -> None:
    states = [state("a", 100), state("b", 100, accepted=50)]
    given_ = allocate(states, 40)
    # a's need starts 50 ahead; at p=0.5 each lease lowers need by 0.5, so a takes all 40 (need 100→80
    # stays above b's 50).
    assert given_ == {"a": 40}


def test_low_pass_rate_earns_more_leases_up_to_cap() -> None:
    rare = state("rare", 10, passed=1, completed=19)  # p = 2/21
    common = state("common", 10, passed=19, completed=19)  # p = 20/21
    result = allocate([rare, common], 1000)
    assert result["rare"] == math.ceil(10 / rare.pass_rate)  # 105
    assert result["common"] == math.ceil(10 / common.pass_rate)  # 11


def test_full_behaviour_gets_nothing() -> None:
    assert allocate([state("done", 5, accepted=5)], 10) == {}


def test_tail_is_not_flooded() -> None:
    # One sample left, p = 1.0-ish: at most one or two leases in flight, never the whole batch.
    s = state("tail", 100, accepted=99, passed=99, completed=99)
    assert allocate([s], 64) == {"tail": 2}
    assert allocate([state("tail", 100, accepted=99, passed=99, completed=99, in_flight=2)], 64) == {}


@given(
    st.lists(
        st.tuples(
            st.integers(0, 50), st.integers(0, 50), st.integers(0, 60), st.integers(0, 60), st.integers(0, 30)
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 200),
)
def test_allocation_invariants(rows: list[tuple[int, int, int, int, int]], k: int) -> None:
    states = []
    for index, (target, accepted, completed, passed, in_flight) in enumerate(rows):
        accepted = min(accepted, target)
        passed = min(passed, completed)
        states.append(state(f"b{index}", target, accepted, passed, completed, in_flight))
    result = allocate(states, k)
    assert sum(result.values()) <= k
    for s in states:
        count = result.get(s.name, 0)
        assert count >= 0
        if s.remaining == 0:
            assert count == 0
        assert count == 0 or s.in_flight + count <= s.in_flight_cap
    # Work-conserving: leases are withheld only when every behaviour is at its cap.
    if sum(result.values()) < k:
        assert all(s.in_flight + result.get(s.name, 0) >= s.in_flight_cap for s in states if s.target > 0)
