"""The Flock blog-review loop, offline by default.

Idea -> blog_writer -> Blog -> seo_optimizer (a harsh critic) -> Review.
blog_writer rewrites on a Review with score <= 8; html_writer turns a Review with
score >= 9 into blog.html with a tool. The loop ends by itself (the circuit breaker,
max_iterations, is the backstop).

    python examples/03_blog_review.py          # plain console output
    flock-tui examples/03_blog_review.py       # one pane per agent
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from pydantic import BaseModel, Field

from engine import Flock, flock_tool, flock_type


@flock_type
class Idea(BaseModel):
    """A topic to write a blog post about."""

    topic: str
    audience: str = "curious readers"


@flock_type
class Blog(BaseModel):
    """A blog post draft."""

    title: str = Field(description="A catchy title")
    body: str = Field(description="The full text of the post, several paragraphs")
    sections: list[str] = Field(description="Section headings", min_length=2, max_length=5)
    summary: str = Field(description="A two or three sentence summary")


@flock_type
class Review(BaseModel):
    """A harsh SEO and editorial review of a blog post."""

    analysis: str = Field(description="A detailed analysis of what works and what does not")
    score: int = Field(ge=1, le=10, description="Overall quality score")
    comments: str = Field(description="Concrete, critical feedback")
    blog_title: str = Field(description="The title of the reviewed post")


@flock_tool
def write_html(title: str, body: str) -> str:
    """Write the finished blog post to blog.html (in the current directory); return its path."""
    path = Path.cwd() / "blog.html"
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    path.write_text(
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{paragraphs}\n",
        encoding="utf-8",
    )
    return str(path)


@flock_type
class Page(BaseModel):
    """The published HTML page."""

    headline: str = Field(description="The headline of the published page")
    note: str = Field(description="A short note about what was published and why")


flock = Flock()

blog_writer = (
    flock.agent("blog_writer")
    .description("Writes an engaging blog post on the idea; rewrites it after a harsh review.")
    .consumes(Idea)
    .consumes(Review, where=lambda r: r.score <= 8)
    .publishes(Blog)
)
seo_optimizer = (
    flock.agent("seo_optimizer")
    .description("A harsh critic: scores the post for SEO and quality and lists what to fix.")
    .consumes(Blog)
    .publishes(Review)
)
html_writer = (
    flock.agent("html_writer")
    .description("Publishes an approved post as HTML using the write_html tool.")
    .consumes(Review, where=lambda r: r.score >= 9)
    .publishes(Page)
    .with_tools([write_html])
)


async def main() -> None:
    await flock.publish(Idea(topic="why cats rule the internet"))
    await flock.run_until_idle()
    reviews = await flock.store.get_by_type(Review)
    pages = await flock.store.get_by_type(Page)
    scores = ", ".join(str(r.score) for r in reviews)
    print(f"reviews: {scores}; pages: {len(pages)}")


if __name__ == "__main__":
    asyncio.run(main())
