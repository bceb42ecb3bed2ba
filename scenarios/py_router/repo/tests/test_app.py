from router import Response, Router

app = Router()


@app.route("GET", "/health")
def health():
    return "ok"


@app.route("GET", "/users/<id:int>")
def show_user(id):
    return f"user {id}"


@app.route("GET", "/users/<id:int>/edit")
def edit_user(id):
    return f"edit form for {id}"


def test_dispatch_to_handler():
    assert app.dispatch("GET", "/users/7") == Response(200, "user 7")


def test_unknown_path_is_404():
    assert app.dispatch("GET", "/nothing").status == 404


def test_nested_route_gets_its_own_handler():
    assert app.dispatch("GET", "/users/7/edit") == Response(200, "edit form for 7")


def test_multi_digit_id():
    assert app.dispatch("GET", "/users/123/edit") == Response(200, "edit form for 123")


def test_prefix_of_a_route_is_not_enough():
    assert app.dispatch("GET", "/healthz").status == 404
