"""Read what DSPy's ChatAdapter (or JSONAdapter) asks for out of a rendered prompt.

The offline model sees only the request DSPy sends: a system message that lists the
input and output fields with their types, constraints and JSON schemas, and user
messages that hold the input values. This module turns that text into a
:class:`PromptSpec`: the output fields in order, each with a JSON-schema-like
description of the value to produce, plus the current inputs.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

MARKER_RE = re.compile(r"\[\[ ## (\w+) ## \]\]")
_FIELD_LINE_RE = re.compile(r"^\s*\d+\. `(\w+)` \((.*?)\):", re.MULTILINE)
_NOTE_RE = re.compile(r"^\{(\w+)\}(?: {2,}# note: the value you produce (.*))?$", re.MULTILINE)
_CONSTRAINT_RE = re.compile(
    r"(greater than or equal to|greater than|less than or equal to|less than|minimum length|"
    r"maximum length|a multiple of the given number): (-?[\d.eE+-]+)"
)
_CONSTRAINT_KEYS = {
    "greater than or equal to": "minimum",
    "greater than": "exclusiveMinimum",
    "less than or equal to": "maximum",
    "less than": "exclusiveMaximum",
    "minimum length": "minLength",
    "maximum length": "maxLength",
    "a multiple of the given number": "multipleOf",
}
_SCALAR_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


@dataclass
class FieldSpec:
    """One output field: its name, the type name DSPy printed, and a schema for its value."""

    name: str
    type_name: str
    schema: dict[str, Any]
    description: str = ""

    @property
    def raw_text(self) -> bool:
        """True when the field's value is written as bare text rather than JSON."""
        return _is_textual(self.schema)


@dataclass
class PromptSpec:
    """What one request asks for."""

    outputs: list[FieldSpec]
    inputs: dict[str, str] = field(default_factory=dict)
    input_names: list[str] = field(default_factory=list)
    instructions: str = ""
    system: str = ""
    json_mode: bool = False

    def output_names(self) -> list[str]:
        return [f.name for f in self.outputs]


def _is_textual(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        return True
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return all(isinstance(v, str) for v in values)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        return bool(non_null) and _is_textual(non_null[0])
    return False


def _section(text: str, start: str, stops: tuple[str, ...]) -> str:
    begin = text.find(start)
    if begin < 0:
        return ""
    begin += len(start)
    end = len(text)
    for stop in stops:
        at = text.find(stop, begin)
        if 0 <= at < end:
            end = at
    return text[begin:end]


def _field_entries(section: str) -> list[tuple[str, str, str, str]]:
    """(name, type name, description, constraints) for each numbered field line."""
    entries: list[tuple[str, str, str, str]] = []
    matches = list(_FIELD_LINE_RE.finditer(section))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(section)
        body = section[match.end() : end]
        constraints = ""
        desc_lines = []
        for line in body.splitlines():
            if line.startswith("Constraints: "):
                constraints = line[len("Constraints: ") :]
            else:
                desc_lines.append(line)
        entries.append((match.group(1), match.group(2), "\n".join(desc_lines).strip(), constraints))
    return entries


def _constraints(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, number in _CONSTRAINT_RE.findall(text):
        try:
            value: float | int = float(number)
        except ValueError:
            continue
        if float(value).is_integer() and "." not in number and "e" not in number.lower():
            value = int(value)
        out[_CONSTRAINT_KEYS[label]] = value
    return out


def _split_choices(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def schema_for(type_name: str, note: str | None, constraints: str) -> dict[str, Any]:
    """A JSON-schema-like dict for one field from its type name and the adapter's note."""
    bounds = _constraints(constraints)
    if note:
        if note.startswith("must adhere to the JSON schema: "):
            raw = note[len("must adhere to the JSON schema: ") :]
            try:
                schema = json.loads(raw)
            except json.JSONDecodeError:
                schema = {}
            if isinstance(schema, dict):
                return {**schema, **bounds}
        if note.startswith("must exactly match (no extra characters) one of: "):
            choices = _split_choices(note.split(": ", 1)[1])
            return {"enum": _typed_choices(choices, type_name)}
        if note.startswith("must be one of: "):
            return {"enum": _split_choices(note.split(": ", 1)[1])}
        if note == "must be True or False":
            return {"type": "boolean"}
        single = re.match(r"must be a single (\w+) value", note)
        if single:
            return {"type": _SCALAR_TYPES.get(single.group(1), "number"), **bounds}
    base = type_name.strip()
    if base in _SCALAR_TYPES:
        return {"type": _SCALAR_TYPES[base], **bounds}
    return {"type": "string", **bounds}


def _typed_choices(choices: list[str], type_name: str) -> list[Any]:
    """Literal choices with their Python types, read from ``Literal[...]`` when possible.

    The note joins choices with "; ", which is ambiguous when a choice contains it; the
    type name (``Literal['a', 1]``) is exact, so it wins when it parses.
    """
    name = type_name.strip()
    if name.startswith("Literal[") and name.endswith("]"):
        try:
            typed = ast.literal_eval("[" + name[len("Literal[") : -1] + "]")
        except (ValueError, SyntaxError):
            typed = None
        if isinstance(typed, list) and typed:
            return typed
    return choices


def parse_chat_prompt(system: str, user: str) -> PromptSpec:
    """Parse a ChatAdapter (or JSONAdapter) system message and the last user message."""
    input_section = _section(system, "Your input fields are:", ("Your output fields are:",))
    output_section = _section(
        system,
        "Your output fields are:",
        ("All interactions will be structured", "Outputs will be a JSON object"),
    )
    notes = {m.group(1): m.group(2) for m in _NOTE_RE.finditer(system)}
    json_notes = _json_adapter_notes(system)
    outputs: list[FieldSpec] = []
    for name, type_name, desc, constraints in _field_entries(output_section):
        note = notes.get(name) or json_notes.get(name)
        outputs.append(FieldSpec(name, type_name, schema_for(type_name, note, constraints), desc))
    input_names = [entry[0] for entry in _field_entries(input_section)]
    instructions = (
        system.split("your objective is:", 1)[1].strip() if "your objective is:" in system else ""
    )
    json_mode = "Outputs will be a JSON object" in system or "Respond with a JSON object" in user
    return PromptSpec(
        outputs=outputs,
        inputs=parse_inputs(user),
        input_names=input_names,
        instructions=instructions,
        system=system,
        json_mode=json_mode,
    )


def _json_adapter_notes(system: str) -> dict[str, str]:
    """JSONAdapter lists outputs as a JSON object of `"{name}  # note: ..."` strings."""
    block = _section(
        system, "Outputs will be a JSON object with the following fields.", ("In adhering",)
    )
    start, end = block.find("{"), block.rfind("}")
    if start < 0 or end < start:
        return {}
    try:
        listed = json.loads(block[start : end + 1])
    except json.JSONDecodeError:
        return {}
    notes: dict[str, str] = {}
    if isinstance(listed, dict):
        for name, text in listed.items():
            match = _NOTE_RE.match(str(text))
            if match and match.group(2):
                notes[name] = match.group(2)
    return notes


def parse_inputs(user: str) -> dict[str, str]:
    """The `[[ ## name ## ]]` sections of a user message, as raw text."""
    inputs: dict[str, str] = {}
    for reminder in ("Respond with the corresponding output fields", "Respond with a JSON object"):
        cut = user.rfind(reminder)
        if cut >= 0:
            user = user[:cut]
    matches = list(MARKER_RE.finditer(user))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(user)
        inputs[match.group(1)] = user[match.end() : end].strip()
    return inputs
