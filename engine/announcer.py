"""Announcing the run: `run_started` once, then `agent_registered` per new or changed agent.

A script builds its agents with chained builder calls (`.consumes(...).publishes(...)`),
so after the run has started a change is announced on the next loop iteration, once the
chain is done; before that, everything is announced on first use (publish, invoke, serve).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

from engine.events import AgentRegistered, RunStarted
from engine.registry import tool_name

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.orchestrator import Flock


class Announcer:
    """Emits the header events of one Flock's session, each agent only when it changed."""

    def __init__(self, bus: EventBus, flock: Flock) -> None:
        self._bus = bus
        self._flock = flock
        self._announced: dict[str, AgentRegistered] = {}
        self._scheduled = False
        self.started = False
        self._dirty = False

    def changed(self) -> None:
        """An agent was added or changed: after start, announce it once the chain is done."""
        self._dirty = True
        if not self.started or self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # announced at the next publish/run
        self._scheduled = True
        loop.call_soon(self.announce)

    def ensure_started(self) -> None:
        """On first use: run_started, then agent_registered for every agent not yet announced."""
        if not self.started or self._dirty:
            self.announce()

    def announce(self) -> None:
        self._scheduled = False
        self._dirty = False
        flock = self._flock
        if not self.started:
            self.started = True
            self._bus.emit(
                RunStarted(
                    script=sys.argv[0] if sys.argv and sys.argv[0] else None,
                    argv=list(sys.argv[1:]),
                    runtime_mode=flock.context.runtime_mode,
                    model=flock.model,
                    pid=os.getpid(),
                )
            )
        for agent in flock.agents:
            payload = AgentRegistered(
                name=agent.name,
                description=agent.description,
                consumes=agent.consumed_type_names,
                publishes=agent.published_type_names,
                model=agent.model or flock.model,
                tools=[tool_name(t) for t in agent.tools],
            )
            if self._announced.get(agent.name) != payload:
                self._announced[agent.name] = payload
                self._bus.emit(payload)
