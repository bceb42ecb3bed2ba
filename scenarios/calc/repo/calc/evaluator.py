from calc.tokenizer import tokenize


class CalcError(Exception):
    pass


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos].text if self.pos < len(self.tokens) else None

    def take(self):
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expr(self):
        value = self.term()
        if self.peek() in ("+", "-"):
            op = self.take().text
            rhs = self.expr()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self):
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take().text
            rhs = self.factor()
            if op == "/" and rhs == 0:
                raise CalcError("division by zero")
            value = value * rhs if op == "*" else value / rhs
        return value

    def factor(self):
        if self.peek() == "-":
            self.take()
            return -self.factor()
        if self.peek() == "(":
            self.take()
            value = self.expr()
            if self.peek() != ")":
                raise CalcError("missing closing parenthesis")
            self.take()
            return value
        if self.peek() is None:
            raise CalcError("unexpected end of expression")
        token = self.take()
        if token.kind != "num":
            raise CalcError(f"unexpected {token.text!r}")
        return float(token.text) if "." in token.text else int(token.text)


def evaluate(source):
    """Evaluate an arithmetic expression and return an int or a float."""
    parser = _Parser(tokenize(source))
    value = parser.expr()
    if parser.peek() is not None:
        raise CalcError(f"unexpected {parser.peek()!r}")
    return value
