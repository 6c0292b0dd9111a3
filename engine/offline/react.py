"""Answer DSPy ReAct's step signature: think, pick an offered tool with fitting args, finish.

ReAct's step signature has the outputs ``next_thought`` (str), ``next_tool_name``
(a Literal of the offered tool names plus "finish") and ``next_tool_args`` (a dict). The
tools and their argument schemas are listed in the instructions, one per line:
``(1) name, whose description is <desc>...</desc>. It takes arguments {...}.``

Policy (deterministic for a seed and input): while fewer tool calls than planned have
been made, call a real tool (chosen by the seeded generator, rotating on later steps);
then call "finish". The plan is one tool call, or two when more than one real tool is
offered and the seed says so. Only when no real tool exists is "finish" chosen first.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from engine.offline.prompt import PromptSpec
from engine.offline.prose import kind_for
from engine.offline.values import Generator

REACT_OUTPUTS = ("next_thought", "next_tool_name", "next_tool_args")
_TOOL_LINE_RE = re.compile(
    r"^\s*\((\d+)\) (\S+?)(?:, whose description is <desc>(.*?)</desc>)?\. "
    r"It takes arguments (\{.*\})\.\s*$",
    re.MULTILINE,
)
_ARG_TYPE_RE = re.compile(r"'(\w+)': \{'type': '(\w+)'")
_STEP_RE = re.compile(r"^tool_name_(\d+)$")


@dataclass
class ToolInfo:
    name: str
    description: str
    args: dict[str, Any]


def is_react_step(spec: PromptSpec) -> bool:
    names = spec.output_names()
    return all(n in names for n in REACT_OUTPUTS)


def parse_tools(instructions: str) -> dict[str, ToolInfo]:
    """The tools listed in ReAct's instructions, by name, in listed order."""
    tools: dict[str, ToolInfo] = {}
    for match in _TOOL_LINE_RE.finditer(instructions):
        raw_args = match.group(4)
        try:
            args = ast.literal_eval(raw_args)
        except (ValueError, SyntaxError):
            # A default that is not a literal (an object repr): keep the names and types.
            args = {name: {"type": kind} for name, kind in _ARG_TYPE_RE.findall(raw_args)}
        if not isinstance(args, dict):
            args = {}
        tools[match.group(2)] = ToolInfo(match.group(2), match.group(3) or "", args)
    return tools


def steps_taken(spec: PromptSpec) -> int:
    """How many tool calls the trajectory in the current input already holds."""
    return sum(1 for key in spec.inputs if _STEP_RE.match(key))


def offered_tool_names(spec: PromptSpec) -> list[str]:
    for f in spec.outputs:
        if f.name == "next_tool_name":
            return [str(v) for v in f.schema.get("enum", [])]
    return []


def tool_args(tool: ToolInfo, gen: Generator) -> dict[str, Any]:
    """Arguments that fit the tool's parameter schemas (optional ones mostly left out)."""
    out: dict[str, Any] = {}
    for name, schema in tool.args.items():
        schema = schema if isinstance(schema, dict) else {}
        if "default" in schema and gen.rng.random() < 0.7:
            continue
        sub_gen = Generator(gen.prose, gen.rng, root=schema, attempt=gen.attempt, seed=gen.seed)
        # Long-text arguments (body, content, html...) get paragraphs; others stay short.
        out[name] = sub_gen.value(schema, name, nested=kind_for(name) != "long")
    return out


def react_step(spec: PromptSpec, gen: Generator) -> dict[str, Any]:
    """Values for next_thought, next_tool_name, next_tool_args (plus any other outputs)."""
    offered = offered_tool_names(spec)
    tools = parse_tools(spec.instructions)
    real = [n for n in offered if n != "finish"] or [n for n in tools if n != "finish"]
    taken = steps_taken(spec)
    planned = 0
    if real:
        planned = 2 if len(real) > 1 and gen.seed % 2 == 1 else 1
    if taken < planned:
        start = gen.seed % len(real)
        name = real[(start + taken) % len(real)]
        tool = tools.get(name, ToolInfo(name, "", {}))
        thought = gen.prose.tool_thought(name)
        args = tool_args(tool, gen)
    else:
        name = "finish" if "finish" in offered or not offered else offered[-1]
        thought = gen.prose.finish_thought()
        args = {}
    values: dict[str, Any] = {
        "next_thought": thought,
        "next_tool_name": name,
        "next_tool_args": args,
    }
    for f in spec.outputs:
        if f.name not in values:
            values[f.name] = gen.value(f.schema, f.name)
    return values
