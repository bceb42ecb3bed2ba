from wordfreq import count_words, top


def test_counts_fold_case():
    assert count_words("Go go GO stop") == {"go": 3, "stop": 1}


def test_min_length():
    assert count_words("a bb ccc", min_length=2) == {"bb": 1, "ccc": 1}


def test_top_breaks_ties_alphabetically():
    assert top({"b": 2, "a": 2, "c": 5}, 2) == [("c", 5), ("a", 2)]
