"""Evaluate arithmetic expressions."""

from calc.evaluator import CalcError, evaluate

__all__ = ["CalcError", "evaluate"]
