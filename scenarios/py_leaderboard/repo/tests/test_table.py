from leaderboard import Entry, render


def test_render_aligns_columns():
    rows = [(1, Entry("ana", 100, 400)), (2, Entry("benedict", 90, 300))]
    assert render(rows) == "1  ana       100  400s\n2  benedict   90  300s"


def test_render_empty():
    assert render([]) == ""
