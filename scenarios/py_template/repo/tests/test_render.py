from minitpl import Template


class User:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"User({self.name!r})"


def test_plain_variable():
    assert Template("Hi {{ name }}!").render({"name": "Ana"}) == "Hi Ana!"


def test_dotted_lookup_in_dicts_and_objects():
    ctx = {"order": {"id": 7}, "user": User("ben")}
    assert Template("{{order.id}} for {{ user.name }}").render(ctx) == "7 for ben"


def test_filters_chain():
    assert Template("{{ s|strip|title }}").render({"s": "  good day "}) == "Good Day"


def test_custom_filter():
    t = Template("{{ n|double }}", filters={"double": lambda v: v * 2})
    assert t.render({"n": 21}) == "42"


def test_lenient_mode_renders_missing_as_empty():
    assert Template("[{{ nope }}]", strict=False).render({}) == "[]"
