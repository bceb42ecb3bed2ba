import argparse

from wordfreq.count import count_words, top


def build_parser():
    parser = argparse.ArgumentParser(prog="wordfreq", description="Count words on stdin.")
    parser.add_argument("--top", type=int, default=10, help="how many words to print")
    parser.add_argument("--min-length", type=int, default=1, help="ignore shorter words")
    parser.add_argument("--keep-case", action="store_true",
                        help="count 'The' and 'the' separately")
    return parser


def render(rows):
    width = max((len(str(c)) for _, c in rows), default=1)
    return "".join(f"{c:>{width + 3}}  {w}\n" for w, c in rows)


def main(argv, stdin, stdout):
    args = build_parser().parse_args(argv)
    if args.top < 1:
        stdout.write("wordfreq: --top must be at least 1\n")
        return 2
    counts = count_words(stdin.read(), min_length=args.min_length, fold_case=not args.keep_case)
    stdout.write(render(top(counts, args.top)))
    return 0
