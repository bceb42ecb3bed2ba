from logstats import Summary, render, summarize

LOG = [
    "INFO api: started",
    "ERROR db: timeout",
    "garbage",
    "INFO api: request done",
    "ERROR db: retry failed",
    "DEBUG db: pool size 4",
]


def test_level_counts():
    assert summarize(LOG).levels == {"INFO": 2, "ERROR": 2, "DEBUG": 1}


def test_errors_are_listed():
    assert summarize(LOG).errors == ["db: timeout", "db: retry failed"]


def test_busiest_source():
    assert summarize(LOG).busiest == "db"


def test_empty_log():
    assert summarize([]) == Summary()


def test_render():
    text = render(summarize(LOG[:2]))
    assert text == "ERROR: 1\nINFO: 1\n  ! db: timeout\nbusiest: api"
