"""Property: an AND gate joins exactly min(#A, #B) pairs per correlation id, never across."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from engine import Flock, RunContext, flock_type

from .conftest import FakeEngine


@flock_type
class GateA(BaseModel):
    corr: str


@flock_type
class GateB(BaseModel):
    corr: str


@flock_type
class GateOut(BaseModel):
    corrs: list[str]


publishes = st.lists(
    st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(["c1", "c2", "c3"])), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(publishes)
def test_and_gate_pairs_within_correlation_ids(sequence: list[tuple[str, str]]) -> None:
    def join(run: RunContext) -> list[BaseModel]:
        return [GateOut(corrs=[a.to_model().corr for a in run.inputs])]

    async def scenario() -> list[GateOut]:
        flock = Flock(console=False)
        flock.agent("gate").consumes(GateA, GateB).publishes(GateOut).max_iterations(
            100
        ).with_engine(FakeEngine(join))
        for kind, corr in sequence:
            obj = GateA(corr=corr) if kind == "A" else GateB(corr=corr)
            await flock.publish(obj, correlation_id=corr)
        await asyncio.wait_for(flock.run_until_idle(), 10)
        return await flock.store.get_by_type(GateOut)

    outputs = asyncio.run(scenario())
    counts = Counter(sequence)
    expected = Counter({c: min(counts[("A", c)], counts[("B", c)]) for c in ("c1", "c2", "c3")})
    assert all(len(set(o.corrs)) == 1 for o in outputs)  # never joined across ids
    assert Counter(o.corrs[0] for o in outputs) == +expected
