"""Text quality of the offline model: on topic, field-shaped, sized; scores that evolve."""

from __future__ import annotations

import re

import dspy
import pytest
from pydantic import BaseModel, Field

from engine.offline import make_offline_lm
from engine.offline.phrases import key_phrases
from engine.offline.prose import kind_for


class Blog(BaseModel):
    title: str = Field(description="A catchy title")
    body: str = Field(description="The full text of the post, several paragraphs")
    sections: list[str] = Field(description="Section headings", min_length=2, max_length=5)
    summary: str = Field(description="A two or three sentence summary")


class WriteBlog(dspy.Signature):
    """Write a blog post about the idea."""

    idea: str = dspy.InputField()
    title: str = dspy.OutputField(desc="A catchy title")
    body: str = dspy.OutputField(desc="The full text of the post, several paragraphs")
    summary: str = dspy.OutputField(desc="A two or three sentence summary")
    comments: str = dspy.OutputField()
    sections: list[str] = dspy.OutputField(desc="Section headings", min_length=2, max_length=5)


class Critique(dspy.Signature):
    """You are a harsh critic. Score the blog post."""

    blog: Blog = dspy.InputField()
    score: int = dspy.OutputField(ge=1, le=10)
    comments: str = dspy.OutputField(desc="Concrete, critical feedback")


def _words(text: str) -> int:
    return len(text.split())


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"[.!?]+\s", text.strip() + " ") if s.strip()])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fields_are_shaped_by_name_and_description(seed):
    with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
        p = dspy.Predict(WriteBlog)(idea="urban beekeeping on city rooftops")
    assert "\n" not in p.title and 2 <= _words(p.title) <= 12
    assert 40 <= _words(p.body) <= 150 and "\n\n" in p.body, "the body has several paragraphs"
    assert 2 <= _sentences(p.summary) <= 4 and _words(p.summary) <= 70
    assert 2 <= _sentences(p.comments) <= 4
    assert 2 <= len(p.sections) <= 5
    assert all(_words(s) <= 12 and "\n" not in s for s in p.sections), "headings are title-like"


def test_text_is_on_the_input_topic_not_filler():
    with dspy.context(lm=make_offline_lm(seed=4), adapter=dspy.ChatAdapter()):
        p = dspy.Predict(WriteBlog)(idea="urban beekeeping on city rooftops")
    text = " ".join([p.title, p.body, p.summary]).lower()
    assert "beekeeping" in text
    assert "lorem" not in text and "ipsum" not in text
    assert "Beekeeping" in p.title


def test_topic_survives_an_agent_reading_another_agents_text():
    lm = make_offline_lm(seed=0)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        draft = dspy.Predict(WriteBlog)(idea="why cats rule the internet")
        blog = Blog(
            title=draft.title, body=draft.body, sections=draft.sections, summary=draft.summary
        )
        review = dspy.Predict(Critique)(blog=blog)
    assert "cats" in review.comments.lower()


def test_key_phrases_keep_names_and_multiword_topics():
    phrases = key_phrases(["urban beekeeping on city rooftops", "Bees in Berlin and bees in Paris"])
    assert phrases[0] in ("urban beekeeping", "bees")
    assert "city rooftops" in phrases
    assert "Berlin" in phrases or any("Berlin" in p for p in phrases)


def test_field_kinds():
    assert kind_for("title") == "title"
    assert kind_for("sections", "Section headings") == "title"
    assert kind_for("body") == "long"
    assert kind_for("comments", "the comments of the Review") == "critique"
    assert kind_for("summary") == "summary"
    assert kind_for("filename") == "file"


def test_scores_rise_on_later_drafts_so_feedback_loops_end():
    """Rule: score = lo + ceil((hi - lo) * min(1, 0.5 + 0.05*(seed % 3) + 0.2*attempt))."""
    expected = {0: [6, 8, 10], 1: [6, 8, 10], 2: [7, 9, 10]}
    for seed, scores in expected.items():
        lm = make_offline_lm(seed=seed)
        got = []
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            for draft in range(3):
                blog = Blog(
                    title=f"Draft {draft}", body="cats " * 10, sections=["a", "b"], summary="cats"
                )
                got.append(dspy.Predict(Critique)(blog=blog).score)
        assert got == scores, (seed, got)


@pytest.mark.parametrize("seed", range(8))
def test_blog_review_loop_terminates_within_three_drafts(seed):
    lm = make_offline_lm(seed=seed)
    drafts = 0
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        while drafts < 10:
            drafts += 1
            draft = dspy.Predict(WriteBlog)(idea="tiny houses")
            blog = Blog(
                title=draft.title, body=draft.body, sections=draft.sections, summary=draft.summary
            )
            if dspy.Predict(Critique)(blog=blog).score >= 9:
                break
    assert drafts <= 3


def test_other_numbers_vary_with_input_and_seed():
    class Count(dspy.Signature):
        """Estimate."""

        question: str = dspy.InputField()
        estimate: int = dspy.OutputField(ge=0, le=1000)

    values = set()
    for seed in range(3):
        for question in ("bees", "ants", "wasps"):
            with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
                values.add(dspy.Predict(Count)(question=question).estimate)
    assert len(values) >= 5


def test_stance_follows_the_task_instructions():
    from engine.offline.templates import CON, PRO, stance_of

    assert stance_of("Argues FOR the motion, persuasively.") == "pro"
    assert stance_of("Argues AGAINST the motion, persuasively.") == "con"
    assert stance_of("An impartial judge who weighs both arguments.") is None

    def argue(instructions: str) -> str:
        sig = dspy.Signature("motion -> argument", instructions)
        with dspy.context(lm=make_offline_lm(seed=1), adapter=dspy.ChatAdapter()):
            return dspy.Predict(sig)(motion="Remote work makes teams more productive").argument

    def uses(pool: tuple[str, ...], text: str) -> bool:
        starts = [t.split("{")[0].strip() for t in pool]
        return any(s and s in text for s in starts)

    pro, con = argue("Argues FOR the motion."), argue("Argues AGAINST the motion.")
    assert uses(PRO, pro) and not uses(CON, pro)
    assert uses(CON, con) and not uses(PRO, con)
    assert "remote work" in pro.lower() and "remote work" in con.lower()
