"""dspy.lm15 engine objects for the offline model, with pacing.

``dspy.LM("offline/...", engine=OfflineEngine(...), async_engine=AsyncOfflineEngine(...))``
routes every call through these objects: ``complete(request)`` returns an lm15 Response,
``stream(request)`` yields StreamStartEvent, one StreamDeltaEvent(TextDelta) per
word-sized chunk, and StreamEndEvent. That is DSPy's real streaming path, so
``dspy.streamify`` with StreamListeners sees the chunks as it would from a provider.

Pacing: ``tokens_per_second`` chunks per second per stream (0 = no delay). The async
stream waits with ``asyncio.sleep`` against a schedule (no drift), so many agents in one
event loop stream interleaved; the sync path uses ``time.sleep``. A non-streamed
``complete`` waits as long as streaming the same answer would take.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator

from dspy.lm15 import (
    Message,
    Request,
    Response,
    StreamDeltaEvent,
    StreamEndEvent,
    StreamStartEvent,
    TextDelta,
    TextPart,
    Usage,
)

from engine.offline.compose import Composer, request_texts

# A marker line is one chunk; otherwise a word with the whitespace after it.
_CHUNK_RE = re.compile(r"\[\[ ## \w+ ## \]\]\n*|\S+\s*|\s+")
_ids = itertools.count(1)


def chunk_text(text: str) -> list[str]:
    """Word-sized chunks whose concatenation is exactly `text`."""
    return _CHUNK_RE.findall(text)


def _usage(request: Request, chunks: list[str]) -> Usage:
    system, user = request_texts(request)
    prompt_tokens = len(system.split()) + sum(len((m.text or "").split()) for m in request.messages)
    return Usage(input_tokens=prompt_tokens, output_tokens=len(chunks))


class OfflineEngine:
    """Synchronous engine: one deterministic answer per request."""

    def __init__(self, composer: Composer, tokens_per_second: float, model: str) -> None:
        self.composer = composer
        self.tokens_per_second = tokens_per_second
        self.model = model

    def _answer(self, request: Request) -> tuple[str, list[str]]:
        text = self.composer.answer(request)
        return text, chunk_text(text)

    def _response(self, request: Request, text: str, chunks: list[str]) -> Response:
        return Response(
            id=f"offline-{next(_ids)}",
            model=self.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=_usage(request, chunks),
        )

    def complete(self, request: Request) -> Response:
        text, chunks = self._answer(request)
        if self.tokens_per_second > 0:
            time.sleep(len(chunks) / self.tokens_per_second)
        return self._response(request, text, chunks)

    def stream(self, request: Request) -> Iterator[object]:
        _, chunks = self._answer(request)
        yield StreamStartEvent(id=f"offline-{next(_ids)}", model=self.model)
        start = time.monotonic()
        for i, chunk in enumerate(chunks):
            if self.tokens_per_second > 0:
                delay = start + (i + 1) / self.tokens_per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield StreamDeltaEvent(TextDelta(chunk))
        yield StreamEndEvent(finish_reason="stop", usage=_usage(request, chunks))

    def close(self) -> None:
        """Nothing to release."""


class AsyncOfflineEngine:
    """Async engine sharing the sync engine's composer (and so its attempt counters)."""

    def __init__(self, sync: OfflineEngine) -> None:
        self.sync = sync

    async def complete(self, request: Request) -> Response:
        text, chunks = self.sync._answer(request)
        if self.sync.tokens_per_second > 0:
            await asyncio.sleep(len(chunks) / self.sync.tokens_per_second)
        return self.sync._response(request, text, chunks)

    async def stream(self, request: Request) -> AsyncIterator[object]:
        _, chunks = self.sync._answer(request)
        tps = self.sync.tokens_per_second
        yield StreamStartEvent(id=f"offline-{next(_ids)}", model=self.sync.model)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, chunk in enumerate(chunks):
            if tps > 0:
                delay = start + (i + 1) / tps - loop.time()
                await asyncio.sleep(max(0.0, delay))
            else:
                await asyncio.sleep(0)  # let other agents in the loop run
            yield StreamDeltaEvent(TextDelta(chunk))
        yield StreamEndEvent(finish_reason="stop", usage=_usage(request, chunks))

    async def aclose(self) -> None:
        """Nothing to release."""
