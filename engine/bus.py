"""The event bus: stamps payloads into envelopes and hands them to every sink."""

from __future__ import annotations

import logging

from engine.events import Envelope, EventFactory, EventPayload, NoticeLevel, RunNotice
from engine.sinks import EventSink

log = logging.getLogger("engine")

# Events a sink added late still needs to make sense of what follows.
_HEADER_EVENTS = frozenset({"run_started", "agent_registered"})


class EventBus:
    """One session: a strictly increasing seq, fanned out to sinks (called on the loop)."""

    def __init__(self, session_id: str | None = None) -> None:
        self.factory = EventFactory(session_id)
        self.sinks: list[EventSink] = []
        self._headers: list[Envelope] = []
        self._failed: set[int] = set()

    @property
    def session_id(self) -> str:
        return self.factory.session_id

    def add_sink(self, sink: EventSink) -> None:
        """Attach a sink; it first receives the run_started/agent_registered events so far."""
        for envelope in self._headers:
            self._deliver(sink, envelope)
        self.sinks.append(sink)

    def remove_sink(self, sink: EventSink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def emit(self, payload: EventPayload, correlation_id: str | None = None) -> Envelope:
        envelope = self.factory.make(payload, correlation_id=correlation_id)
        if envelope.event_type in _HEADER_EVENTS:
            self._headers.append(envelope)
        for sink in list(self.sinks):
            self._deliver(sink, envelope)
        return envelope

    def _deliver(self, sink: EventSink, envelope: Envelope) -> None:
        try:
            sink.send(envelope)
        except Exception as exc:  # a broken sink must not stop the agents
            if id(sink) not in self._failed:
                self._failed.add(id(sink))
                log.warning("event sink %r failed: %s", sink, exc)

    def notice(self, text: str, level: NoticeLevel = "warning") -> Envelope:
        """A one-line notice for the user (a type nobody consumes, a gate left waiting):
        a `notice` event like any other, so the pipe, a record and the dashboard keep it."""
        return self.emit(RunNotice(level=level, text=text))

    async def aclose(self) -> None:
        for sink in list(self.sinks):
            try:
                await sink.aclose()
            except Exception as exc:  # pragma: no cover - best effort
                log.warning("closing event sink %r failed: %s", sink, exc)
