import io

from wordfreq import build_parser, main


def run(argv, text):
    out = io.StringIO()
    code = main(argv, io.StringIO(text), out)
    return code, out.getvalue()


def test_top_two():
    assert run(["--top", "2"], "cat dog cat bird dog cat") == (0, "   3  cat\n   2  dog\n")


def test_rejects_zero_top():
    code, out = run(["--top", "0"], "x")
    assert code == 2 and "--top" in out


def test_folds_case_by_default():
    assert run([], "The cat saw the dog") == (0, "   2  the\n   1  cat\n   1  dog\n   1  saw\n")


def test_keep_case_flag():
    assert not build_parser().parse_args([]).keep_case
    assert build_parser().parse_args(["--keep-case"]).keep_case
