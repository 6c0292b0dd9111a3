"""The news desk: eight analysts stream at the same time, an editor writes the digest.

One Story wakes eight analyst agents at once (each is its own agent, so all eight run
in parallel); the editor waits for all eight Analysis artifacts of the story (a batch
within one correlation id) and writes a Digest.

    python examples/16_news_desk.py
    flock-tui examples/16_news_desk.py         # eight panes streaming together
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from engine import Flock, flock_type

DESKS = {
    "markets": "Analyses the market and financial consequences.",
    "technology": "Analyses the technology behind the story.",
    "politics": "Analyses the political angle and who gains or loses.",
    "science": "Checks the scientific claims and the evidence.",
    "climate": "Analyses the environmental and climate impact.",
    "health": "Analyses the consequences for public health.",
    "culture": "Analyses how the story changes everyday culture.",
    "world": "Analyses the international reactions and the global picture.",
}


@flock_type
class Story(BaseModel):
    """A breaking news story for the desk."""

    headline: str
    details: str


@flock_type
class Analysis(BaseModel):
    """One desk's analysis of the story."""

    headline: str = Field(description="A sharp headline for this angle")
    body: str = Field(description="The analysis itself, two or three paragraphs")
    risks: str = Field(description="The main risks and open questions for this angle")
    outlook: str = Field(description="What to watch next, a short paragraph")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the desk is")


@flock_type
class Digest(BaseModel):
    """The editor's digest of every desk's analysis."""

    headline: str = Field(description="The digest headline")
    summary: str = Field(description="The digest: what every desk found, in a few paragraphs")
    highlights: list[str] = Field(description="The key points", min_length=3, max_length=8)


flock = Flock()

for desk, role in DESKS.items():
    (
        flock.agent(f"{desk}_analyst")
        .description(f"The {desk} desk. {role}")
        .consumes(Story)
        .publishes(Analysis)
    )

editor = (
    flock.agent("editor")
    .description("The editor: reads every desk's analysis and writes one digest.")
    .consumes(Analysis, batch=len(DESKS))
    .publishes(Digest)
)


async def main() -> None:
    await flock.publish(
        Story(
            headline="City switches its entire bus fleet to electric overnight",
            details=(
                "The transit authority replaced every diesel bus with electric buses, "
                "funded by a green bond; unions, riders and energy suppliers react."
            ),
        )
    )
    await flock.run_until_idle()
    digests = await flock.store.get_by_type(Digest)
    analyses = await flock.store.get_by_type(Analysis)
    print(f"analyses: {len(analyses)}; digests: {len(digests)}")


if __name__ == "__main__":
    asyncio.run(main())
