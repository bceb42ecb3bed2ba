"""Weighted directed graphs: shortest paths and reachability."""

from graph.core import Graph
from graph.paths import NoPath, reachable, shortest_path

__all__ = ["Graph", "NoPath", "reachable", "shortest_path"]
