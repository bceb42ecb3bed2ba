"""Fastest journeys on a metro map."""

from metro.network import Network
from metro.route import NoRoute, fastest

__all__ = ["Network", "NoRoute", "fastest"]
