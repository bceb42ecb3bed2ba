from logstats import Record, parse_lines


def test_parse_lines_skips_garbage():
    lines = ["INFO api: started", "not a log line", "  WARNING cache: 90% full  "]
    assert list(parse_lines(lines)) == [
        Record("INFO", "api", "started"),
        Record("WARNING", "cache", "90% full"),
    ]
