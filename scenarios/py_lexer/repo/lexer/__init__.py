"""Tokenizer for a small expression language."""

from lexer.lexer import tokenize
from lexer.tokens import KEYWORDS, LexError, Token

__all__ = ["KEYWORDS", "LexError", "Token", "tokenize"]
