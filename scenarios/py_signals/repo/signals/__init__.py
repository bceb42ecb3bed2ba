"""An in-process event bus and a bridge between buses."""

from signals.bridge import Bridge
from signals.bus import EventBus

__all__ = ["Bridge", "EventBus"]
