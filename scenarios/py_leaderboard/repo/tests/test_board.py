from leaderboard import Entry, standings


def names(rows):
    return [(rank, e.name) for rank, e in rows]


def test_equal_times_order_by_score():
    rows = standings([Entry("ana", 50, 100), Entry("ben", 80, 100), Entry("cy", 60, 100)])
    assert names(rows) == [(1, "ben"), (2, "cy"), (3, "ana")]


def test_score_beats_time():
    rows = standings([Entry("ben", 90, 300), Entry("ana", 100, 400)])
    assert names(rows) == [(1, "ana"), (2, "ben")]


def test_time_breaks_score_ties():
    rows = standings([Entry("ana", 70, 500), Entry("ben", 70, 200), Entry("cy", 95, 900)])
    assert names(rows) == [(1, "cy"), (2, "ben"), (3, "ana")]


def test_shared_rank_listed_by_name():
    rows = standings([Entry("dee", 10, 60), Entry("cy", 10, 60), Entry("ana", 20, 90), Entry("bo", 5, 1)])
    assert names(rows) == [(1, "ana"), (2, "cy"), (2, "dee"), (4, "bo")]
