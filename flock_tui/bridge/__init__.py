"""The aiohttp WebSocket bridge: a run's events to browsers (the dashboard) and terminals.

Importing this package imports aiohttp; the engine only does so inside serve().
"""

from .child import ChildBridge, bridge_for_child
from .server import Bridge

__all__ = ["Bridge", "ChildBridge", "bridge_for_child"]
