"""The offline model streams word-sized chunks through DSPy's real streaming path."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
import time

import dspy
import pytest
from dspy.streaming import StreamListener, StreamResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.offline import chunk_text, make_offline_lm, offline_tps

MARKER = re.compile(r"\[\[ ## \w+ ## \]\]")


class Blog(dspy.Signature):
    """Write a blog post about the topic."""

    topic: str = dspy.InputField()
    title: str = dspy.OutputField()
    body: str = dspy.OutputField()
    score: int = dspy.OutputField(ge=1, le=10)


async def _stream(lm: dspy.LM, topic: str, fields: tuple[str, ...] = ("title", "body")) -> tuple:
    program = dspy.streamify(
        dspy.Predict(Blog),
        stream_listeners=[StreamListener(signature_field_name=f) for f in fields],
        is_async_program=True,
    )
    chunks: dict[str, list[str]] = {f: [] for f in fields}
    prediction = None
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        async for item in program(topic=topic):
            if isinstance(item, StreamResponse):
                chunks[item.signature_field_name].append(item.chunk)
            elif isinstance(item, dspy.Prediction):
                prediction = item
    return chunks, prediction


async def test_streamify_yields_chunks_per_str_field_and_a_prediction():
    chunks, prediction = await asyncio.wait_for(
        _stream(make_offline_lm(seed=1), "tidal energy"), 20
    )
    assert prediction is not None
    for field in ("title", "body"):
        pieces = [c for c in chunks[field] if c]
        assert len(pieces) >= 2, f"{field} streamed as {len(pieces)} chunk(s)"
        joined = "".join(chunks[field])
        assert joined.strip() == getattr(prediction, field).strip()
        assert "[[" not in joined and "##" not in joined and "]]" not in joined
    assert 1 <= prediction.score <= 10


async def test_raw_lm_chunks_are_words_or_whole_markers():
    program = dspy.streamify(dspy.Predict(Blog), is_async_program=True)
    texts: list[str] = []

    async def run() -> None:
        with dspy.context(lm=make_offline_lm(seed=2), adapter=dspy.ChatAdapter()):
            async for item in program(topic="night trains in Europe"):
                if not isinstance(item, dspy.Prediction):
                    content = item.choices[0].delta.content
                    if content:
                        texts.append(content)

    await asyncio.wait_for(run(), 20)
    assert len(texts) > 20
    for text in texts:
        if "[[" in text:
            assert MARKER.fullmatch(text.strip()), f"marker split across chunks: {text!r}"
        else:
            assert re.fullmatch(r"\s*\S+\s*", text), f"not a word-sized chunk: {text!r}"
    assert sum(1 for t in texts if MARKER.search(t)) == 4  # title, body, score, completed


def test_chunk_text_keeps_the_text_and_markers_whole():
    text = "[[ ## title ## ]]\nA Fresh Look\n\n[[ ## body ## ]]\nOne two, three.\n\n[[ ## completed ## ]]"
    chunks = chunk_text(text)
    assert "".join(chunks) == text
    assert chunks[0] == "[[ ## title ## ]]\n"
    assert "[[ ## completed ## ]]" in chunks
    assert all(len(c) > 1 or not c.strip() for c in chunks)


async def test_concurrent_streams_interleave_in_one_loop():
    order: list[str] = []

    async def agent(name: str, topic: str) -> None:
        program = dspy.streamify(
            dspy.Predict(Blog),
            stream_listeners=[StreamListener(signature_field_name="body")],
            is_async_program=True,
        )
        with dspy.context(
            lm=make_offline_lm(seed=0, tokens_per_second=400), adapter=dspy.ChatAdapter()
        ):
            async for item in program(topic=topic):
                if isinstance(item, StreamResponse):
                    order.append(name)

    await asyncio.wait_for(
        asyncio.gather(agent("a", "coral reefs"), agent("b", "bicycle lanes")), 30
    )
    first_b, last_a = order.index("b"), len(order) - 1 - order[::-1].index("a")
    assert first_b < last_a, "agent b only started streaming after agent a had finished"


def test_same_seed_same_answer_and_seeds_differ():
    def run(seed: int) -> dict:
        with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
            return dict(dspy.Predict(Blog)(topic="community gardens").items())

    assert run(5) == run(5)
    bodies = {run(seed)["body"] for seed in range(5)}
    assert len(bodies) >= 4


def test_env_sets_tokens_per_second(monkeypatch):
    monkeypatch.setenv("FLOCK_OFFLINE_TPS", "100")
    assert offline_tps() == 100
    assert make_offline_lm().engine.tokens_per_second == 100
    assert make_offline_lm(tokens_per_second=7).engine.tokens_per_second == 7
    monkeypatch.delenv("FLOCK_OFFLINE_TPS")
    assert offline_tps() == 40
    monkeypatch.setenv("FLOCK_OFFLINE_TPS", "fast")
    with pytest.raises(ValueError, match="FLOCK_OFFLINE_TPS"):
        make_offline_lm()


async def test_async_stream_is_paced():
    lm = make_offline_lm(seed=0, tokens_per_second=100)
    start = time.monotonic()
    chunks, prediction = await asyncio.wait_for(_stream(lm, "paced topic"), 30)
    elapsed = time.monotonic() - start
    total = sum(len(c) for c in chunks.values())
    assert prediction is not None and total >= 20
    # At 100 tokens/s, 20+ tokens cannot arrive in under 0.1 s (coarse lower bound only).
    assert elapsed >= 0.1


def test_sync_complete_is_paced():
    lm = make_offline_lm(seed=0, tokens_per_second=100)
    start = time.monotonic()
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        dspy.Predict(Blog)(topic="sync pacing")
    assert time.monotonic() - start >= 0.1


def test_a_streamed_prediction_never_imports_litellm():
    script = textwrap.dedent(
        """
        import asyncio, sys
        import dspy
        from dspy.streaming import StreamListener, StreamResponse
        from engine.offline import make_offline_lm

        def lookup(city: str) -> str:
            \"\"\"Look up facts about a city.\"\"\"
            return f"{city} has a river."

        async def main():
            lm = make_offline_lm(seed=0, tokens_per_second=0)
            chunks = 0
            with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
                program = dspy.streamify(
                    dspy.Predict("topic -> title, body"),
                    stream_listeners=[StreamListener(signature_field_name="body")],
                    is_async_program=True,
                )
                async for item in program(topic="rivers"):
                    chunks += isinstance(item, StreamResponse)
                react = dspy.streamify(dspy.ReAct("question -> answer", tools=[lookup]),
                                       is_async_program=True)
                async for item in react(question="What about Paris?"):
                    pass
                dspy.Predict("topic -> title")(topic="sync call")
            assert chunks > 2, chunks
            print("litellm" in sys.modules, any(m.startswith("litellm") for m in sys.modules))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False False"


async def test_a_sync_program_streams_through_the_sync_engine():
    program = dspy.streamify(
        dspy.Predict(Blog), stream_listeners=[StreamListener(signature_field_name="body")]
    )
    chunks: list[str] = []
    prediction = None

    async def run() -> None:
        nonlocal prediction
        with dspy.context(lm=make_offline_lm(seed=3), adapter=dspy.ChatAdapter()):
            async for item in program(topic="glaciers"):
                if isinstance(item, StreamResponse):
                    chunks.append(item.chunk)
                elif isinstance(item, dspy.Prediction):
                    prediction = item

    await asyncio.wait_for(run(), 20)
    assert prediction is not None and len(chunks) > 10
    assert "".join(chunks).strip() == prediction.body.strip()


FIELD_SHAPES = ["title", "summary", "comments", "body", "sections", "notes", "reasoning", "x"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FIELD_SHAPES), min_size=1, max_size=4, unique=True),
    st.integers(0, 10_000),
    st.sampled_from(["", "Argues AGAINST the motion.", "Write a digest."]),
)
def test_every_str_field_streams_cleanly(fields, seed, instructions):
    sig = dspy.Signature(
        {"topic": (str, dspy.InputField()), **{f: (str, dspy.OutputField()) for f in fields}},
        instructions or "Answer.",
    )

    async def run() -> tuple[dict[str, list[str]], dspy.Prediction | None]:
        program = dspy.streamify(
            dspy.Predict(sig),
            stream_listeners=[StreamListener(signature_field_name=f) for f in fields],
            is_async_program=True,
        )
        got: dict[str, list[str]] = {f: [] for f in fields}
        final = None
        with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
            async for item in program(topic="harbour seals"):
                if isinstance(item, StreamResponse):
                    got[item.signature_field_name].append(item.chunk)
                elif isinstance(item, dspy.Prediction):
                    final = item
        return got, final

    got, final = asyncio.run(asyncio.wait_for(run(), 20))
    assert final is not None
    for field in fields:
        text = "".join(got[field])
        assert len([c for c in got[field] if c]) >= 2, field
        assert "[[" not in text and "]]" not in text and "##" not in text
        assert text.strip() == getattr(final, field).strip()


def test_answers_are_identical_across_processes():
    script = textwrap.dedent(
        """
        import hashlib, dspy
        from engine.offline import make_offline_lm

        def lookup(city: str) -> str:
            \"\"\"Look up a city.\"\"\"
            return city.upper()

        with dspy.context(lm=make_offline_lm(seed=9), adapter=dspy.ChatAdapter()):
            p = dspy.ReAct("question -> answer, score: int", tools=[lookup])(question="Oslo?")
        print(hashlib.sha256(repr(sorted(p.items())).encode()).hexdigest())
        """
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "FLOCK_OFFLINE_TPS": "0"}
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
        )
        assert result.returncode == 0, result.stderr[-2000:]
        digests.add(result.stdout.strip())
    assert len(digests) == 1
