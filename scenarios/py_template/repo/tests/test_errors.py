import pytest

from minitpl import Template, TemplateError


def test_undefined_variable_is_an_error():
    with pytest.raises(TemplateError, match="undefined variable 'nmae'"):
        Template("Hi {{ nmae }}").render({"name": "Ana"})


def test_unknown_filter_is_an_error():
    with pytest.raises(TemplateError, match="unknown filter 'shout'"):
        Template("{{ name|shout }}").render({"name": "Ana"})


def test_unknown_filter_is_an_error_in_lenient_mode_too():
    with pytest.raises(TemplateError, match="unknown filter 'shout'"):
        Template("{{ name|shout }}", strict=False).render({"name": "Ana"})


def test_failing_filter_is_not_hidden():
    with pytest.raises(TypeError):
        Template("{{ n|upper }}").render({"n": 5})
