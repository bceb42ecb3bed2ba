from router import Route


def test_static_route():
    route = Route("GET", "/health", lambda: "ok")
    assert route.match("GET", "/health") == {}
    assert route.match("POST", "/health") is None


def test_int_parameter_is_converted():
    route = Route("GET", "/users/<id:int>", None)
    assert route.match("get", "/users/42") == {"id": 42}
    assert route.match("GET", "/users/abc") is None


def test_str_parameter_stops_at_slash():
    route = Route("GET", "/tags/<name>", None)
    assert route.match("GET", "/tags/python") == {"name": "python"}


def test_longer_path_does_not_match():
    route = Route("GET", "/tags/<name>", None)
    assert route.match("GET", "/tags/python/feed") is None
