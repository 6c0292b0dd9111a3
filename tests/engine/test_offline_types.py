"""The offline model's answers validate against signatures built from varied pydantic types."""

from __future__ import annotations

import enum
import itertools
from typing import Annotated, Any, Literal, Optional

import dspy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter, create_model

from engine.offline import make_offline_lm


class Mood(enum.Enum):
    HAPPY = "happy"
    CALM = "calm"
    ANGRY = "angry"


class Priority(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


_names = itertools.count()

Spec = tuple[Any, dict[str, Any]]  # (annotation, pydantic Field constraints)


@st.composite
def int_bounds(draw: st.DrawFn) -> dict[str, Any]:
    lo = draw(st.integers(-50, 50))
    hi = lo + draw(st.integers(2, 40))
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["gt" if draw(st.booleans()) else "ge"] = lo
    if draw(st.booleans()):
        out["lt" if draw(st.booleans()) else "le"] = hi
    return out


@st.composite
def float_bounds(draw: st.DrawFn) -> dict[str, Any]:
    lo = draw(st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 2)))
    hi = lo + draw(st.sampled_from([0.001, 0.02, 0.5, 3.0, 50.0]))
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["gt" if draw(st.booleans()) else "ge"] = lo
    if draw(st.booleans()):
        out["lt" if draw(st.booleans()) else "le"] = hi
    return out


def leaf_specs() -> st.SearchStrategy[Spec]:
    return st.one_of(
        st.just((str, {})),
        st.just((str, {"min_length": 30, "max_length": 60})),
        st.just((bool, {})),
        int_bounds().map(lambda b: (int, b)),
        float_bounds().map(lambda b: (float, b)),
        st.just((Literal["red", "green", "blue"], {})),
        st.just((Literal[1, 2, 3], {})),
        st.just((Mood, {})),
        st.just((Priority, {})),
    )


def _annotated(spec: Spec) -> Any:
    ann, constraints = spec
    return Annotated[ann, Field(**constraints)] if constraints else ann


FIELD_NAMES = ["title", "summary", "score", "count", "notes", "label", "ratio", "body", "flag", "x"]


@st.composite
def type_specs(draw: st.DrawFn, depth: int = 2) -> Spec:
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(leaf_specs())
    inner = draw(type_specs(depth - 1))
    kind = draw(st.sampled_from(["list", "dict", "optional", "model"]))
    if kind == "list":
        sized = draw(st.booleans())
        return (list[_annotated(inner)], {"min_length": 1, "max_length": 2} if sized else {})
    if kind == "dict":
        return (dict[str, _annotated(inner)], {})
    if kind == "optional":
        return (Optional[inner[0]], inner[1])  # noqa: UP045 - the Optional spelling is tested too
    names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=4, unique=True))
    fields: dict[str, Any] = {}
    for name in names:
        ann, constraints = draw(type_specs(depth - 1))
        fields[name] = (ann, Field(**constraints))
    model = create_model(f"Nested{next(_names)}", **fields)
    return (model, {})


@st.composite
def signatures(draw: st.DrawFn) -> tuple[type[dspy.Signature], dict[str, Spec]]:
    names = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=4, unique=True))
    specs = {name: draw(type_specs()) for name in names}
    fields: dict[str, Any] = {"topic": (str, dspy.InputField())}
    for name, (ann, constraints) in specs.items():
        fields[name] = (ann, dspy.OutputField(**constraints))
    return dspy.Signature(fields, "Write about the topic."), specs


def _check(prediction: dspy.Prediction, specs: dict[str, Spec]) -> None:
    for name, spec in specs.items():
        value = getattr(prediction, name)
        TypeAdapter(_annotated(spec)).validate_python(value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signatures(), st.integers(0, 1000), st.sampled_from(["cats", "solar power in cities"]))
def test_predictions_validate_against_generated_types(sig_specs, seed, topic):
    sig, specs = sig_specs
    with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
        prediction = dspy.Predict(sig)(topic=topic)
    _check(prediction, specs)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signatures(), st.integers(0, 1000))
def test_json_adapter_answers_validate(sig_specs, seed):
    sig, specs = sig_specs
    with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.JSONAdapter()):
        prediction = dspy.Predict(sig)(topic="river cleanup")
    _check(prediction, specs)


class Section(BaseModel):
    heading: str
    paragraphs: list[str] = Field(min_length=1, max_length=3)


class Blog(BaseModel):
    title: str
    sections: list[Section]
    summary: str
    tags: list[str] = Field(default_factory=list)
    reading_minutes: int = Field(ge=1, le=30)
    rating: float | None = Field(default=None, ge=0.0, le=5.0)
    mood: Mood = Mood.CALM


class Review(BaseModel):
    score: int = Field(ge=1, le=10)
    comments: str


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_pydantic_models_as_output_fields(seed):
    class Write(dspy.Signature):
        """Write a blog post and review it."""

        topic: str = dspy.InputField()
        blog: Blog = dspy.OutputField()
        review: Review = dspy.OutputField()
        verdict: Literal["accept", "reject"] = dspy.OutputField()

    with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
        prediction = dspy.Predict(Write)(topic="urban beekeeping")
    assert isinstance(prediction.blog, Blog)
    assert isinstance(prediction.review, Review)
    assert prediction.verdict in ("accept", "reject")
    assert prediction.blog.sections, "a nested list of models is filled"


def test_optional_and_union_top_level_fields():
    class Sig(dspy.Signature):
        """Answer with optional values."""

        question: str = dspy.InputField()
        maybe_text: str | None = dspy.OutputField()
        maybe_count: Optional[int] = dspy.OutputField(ge=0, le=5)  # noqa: UP045
        either: int | str = dspy.OutputField()
        pair: tuple[int, str] = dspy.OutputField()
        choices: list[Literal["a", "b", "c"]] = dspy.OutputField()

    with dspy.context(lm=make_offline_lm(seed=3), adapter=dspy.ChatAdapter()):
        prediction = dspy.Predict(Sig)(question="what about tides?")
    assert prediction.maybe_count is None or 0 <= prediction.maybe_count <= 5
    assert isinstance(prediction.pair, tuple) and isinstance(prediction.pair[0], int)
    assert set(prediction.choices) <= {"a", "b", "c"}


class Node(BaseModel):
    name: str
    weight: int = Field(ge=0, le=3)
    children: list[Node] = Field(default_factory=list)
    parent: Node | None


def test_recursive_models_stay_finite_and_valid():
    class Sig(dspy.Signature):
        """Describe the tree."""

        topic: str = dspy.InputField()
        tree: Node = dspy.OutputField()
        forest: list[Node] = dspy.OutputField()

    for seed in range(4):
        with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
            prediction = dspy.Predict(Sig)(topic="oak trees")
        assert isinstance(prediction.tree, Node)
        assert all(isinstance(n, Node) for n in prediction.forest)
