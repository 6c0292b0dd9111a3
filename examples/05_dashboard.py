"""The dashboard: a research lab whose agents stream into the browser at the same time.

One Question wakes three researchers at once (each its own agent, all streaming in
parallel); the editor waits for their three Findings and writes the Report. While it
runs, the events are served over a WebSocket with a live dashboard page:

    python examples/05_dashboard.py              # open the printed URL in a browser
    python examples/05_dashboard.py --linger 0   # end as soon as the run is done
    flock-tui --web examples/05_dashboard.py     # TUI panes + the same dashboard

The page stays up `--linger` seconds after the run (default 60, or env
FLOCK_DASHBOARD_LINGER); Ctrl+C stops it earlier. Offline by default (the embedded
model); set DEFAULT_MODEL to use a real one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pydantic import BaseModel, Field

from engine import Flock, flock_type

RESEARCHERS = {
    "historian": "Traces how the question came about and what the past says.",
    "engineer": "Looks at how it works in practice and what it would take to build.",
    "skeptic": "Questions every claim, looks for weak evidence and missing angles.",
}


@flock_type
class Question(BaseModel):
    """A research question for the lab."""

    question: str
    context: str = ""


@flock_type
class Finding(BaseModel):
    """One researcher's finding."""

    angle: str = Field(description="The researcher's angle on the question")
    summary: str = Field(description="The finding, two or three paragraphs")
    open_questions: str = Field(description="What is still unclear")


@flock_type
class Report(BaseModel):
    """The editor's report combining every finding."""

    title: str = Field(description="The report title")
    body: str = Field(description="The report: what the lab found, in a few paragraphs")
    verdict: str = Field(description="A one-sentence verdict")


flock = Flock()

for name, role in RESEARCHERS.items():
    flock.agent(name).description(role).consumes(Question).publishes(Finding)

editor = (
    flock.agent("editor")
    .description("Reads every finding and writes one report.")
    .consumes(Finding, batch=len(RESEARCHERS))
    .publishes(Report)
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default loopback)"
    )
    parser.add_argument("--port", type=int, default=8344, help="port (0: any free port)")
    parser.add_argument(
        "--linger",
        type=float,
        default=float(os.environ.get("FLOCK_DASHBOARD_LINGER", "60")),
        help="seconds to keep serving after the run (default 60)",
    )
    parser.add_argument("--question", default="Could cities run entirely on bicycles?")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    async def kick_off(url: str) -> None:
        await flock.publish(Question(question=args.question, context="a lab demo"))

    await flock.serve(
        dashboard=True,
        host=args.host,
        port=args.port,
        on_ready=kick_off,
        until_idle=True,
        linger=args.linger,
    )
    reports = await flock.store.get_by_type(Report)
    findings = await flock.store.get_by_type(Finding)
    print(f"findings: {len(findings)}; reports: {len(reports)}")


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args(sys.argv[1:])))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # e.g. the port is taken
        print(f"05_dashboard: {exc}", file=sys.stderr)
        sys.exit(1)
