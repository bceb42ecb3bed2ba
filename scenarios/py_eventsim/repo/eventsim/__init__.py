"""Discrete-event simulation of message passing, in virtual time."""

from eventsim.network import Network
from eventsim.sim import Simulator

__all__ = ["Network", "Simulator"]
