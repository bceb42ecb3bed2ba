from mdlist.escape import escape_html


def test_plain_text_unchanged():
    assert escape_html("release notes") == "release notes"


def test_ampersand():
    assert escape_html("fish & chips") == "fish &amp; chips"


def test_angle_brackets():
    assert escape_html("a < b > c") == "a &lt; b &gt; c"


def test_quotes():
    assert escape_html('say "hi" & <go>') == "say &quot;hi&quot; &amp; &lt;go&gt;"
