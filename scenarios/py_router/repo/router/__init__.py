"""A small URL router: patterns with typed parameters, dispatch to handlers."""

from router.app import Response, Router
from router.routes import Route

__all__ = ["Response", "Route", "Router"]
