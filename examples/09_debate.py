"""A debate: a pro and a contra debater start together; a judge weighs both.

The judge's consumes(ProArgument, ConArgument) is an AND gate: it runs once it holds
one argument of each side for the same motion (one correlation id).

    python examples/09_debate.py
    flock-tui examples/09_debate.py
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field

from engine import Flock, flock_type


@flock_type
class Motion(BaseModel):
    """The motion to debate."""

    motion: str


@flock_type
class ProArgument(BaseModel):
    """The case for the motion."""

    headline: str = Field(description="The side's position in one line")
    argument: str = Field(description="The full argument, two or three paragraphs")
    strongest_point: str = Field(description="The single strongest point")


@flock_type
class ConArgument(BaseModel):
    """The case against the motion."""

    headline: str = Field(description="The side's position in one line")
    argument: str = Field(description="The full argument, two or three paragraphs")
    strongest_point: str = Field(description="The single strongest point")


@flock_type
class Verdict(BaseModel):
    """The judge's decision."""

    winner: Literal["pro", "contra"] = Field(description="Which side argued better")
    analysis: str = Field(description="A weighing of both arguments, point by point")
    reasoning: str = Field(description="Why this side won")
    margin: int = Field(ge=1, le=5, description="How clear the win was")


flock = Flock()

pro = (
    flock.agent("pro_debater")
    .description("Argues FOR the motion, persuasively and with evidence.")
    .consumes(Motion)
    .publishes(ProArgument)
)
contra = (
    flock.agent("contra_debater")
    .description("Argues AGAINST the motion, persuasively and with evidence.")
    .consumes(Motion)
    .publishes(ConArgument)
)
judge = (
    flock.agent("judge")
    .description("An impartial judge who weighs both arguments and declares a winner.")
    .consumes(ProArgument, ConArgument)
    .publishes(Verdict)
)


async def main() -> None:
    await flock.publish(Motion(motion="Remote work makes teams more productive"))
    await flock.run_until_idle()
    verdicts = await flock.store.get_by_type(Verdict)
    print(f"verdict: {verdicts[0].winner if verdicts else 'none'}")


if __name__ == "__main__":
    asyncio.run(main())
