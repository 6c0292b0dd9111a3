"""Generate a value that fits a JSON-schema-like description.

Handles what pydantic's ``TypeAdapter(...).json_schema()`` emits for the types a flock
signature uses: strings (with length and a few formats), integers and numbers with
inclusive or exclusive bounds and multipleOf, booleans, enum/const (Literal, Enum),
arrays (min/max items, unique items, tuples via prefixItems), objects with properties
(nested models, resolved through ``$ref``/``$defs``), dicts via additionalProperties,
and anyOf/oneOf/allOf (Optional and unions).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from engine.offline.prose import Prose

_CARRIED = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
    }
)
MAX_DEPTH = 6
SCORE_NAMES = ("score", "rating", "grade", "quality", "rank", "stars")


def is_score_name(name: str) -> bool:
    lowered = name.lower()
    return any(n in lowered for n in SCORE_NAMES)


@dataclass
class Generator:
    """Builds values for one request.

    `attempt` is how many times this LM has already answered the same signature; score-like
    numbers rise with it (see :func:`score_fraction`).
    """

    prose: Prose
    rng: random.Random
    root: dict[str, Any]
    attempt: int = 0
    seed: int = 0
    depth: int = 0

    def value(self, schema: dict[str, Any], name: str, *, nested: bool = False) -> Any:
        """A value for `schema`; recursive models stop growing below MAX_DEPTH."""
        self.depth += 1
        try:
            return self._value(schema, name, nested)
        finally:
            self.depth -= 1

    @property
    def deep(self) -> bool:
        return self.depth > MAX_DEPTH

    def _value(self, schema: dict[str, Any], name: str, nested: bool) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema and schema["enum"]:
            return self.rng.choice(list(schema["enum"]))
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part))
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.value({**merged, **rest}, name, nested=nested)
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            # Constraints printed beside a union (DSPy's "Constraints:" line) bind its members.
            carried = {k: v for k, v in schema.items() if k in _CARRIED}
            return self.value({**carried, **self._pick_option(options)}, name, nested=nested)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else "null"
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                kind = "string"
        handler = {
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": self._boolean,
            "array": self._array,
            "object": self._object,
            "null": lambda s, n, nested: None,
        }.get(kind, self._string)
        return handler(schema, name, nested)

    # -- helpers -----------------------------------------------------------------------------
    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            ref = schema["$ref"]
            target: Any = self.root
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def _pick_option(self, options: list[dict[str, Any]]) -> dict[str, Any]:
        resolved = [self._resolve(o) for o in options]
        non_null = [o for o in resolved if o.get("type") != "null"]
        if not non_null or (self.deep and len(non_null) < len(resolved)):
            return {"type": "null"}
        return non_null[0] if self.rng.random() < 0.7 else self.rng.choice(non_null)

    # -- scalars -----------------------------------------------------------------------------
    def _string(self, schema: dict[str, Any], name: str, nested: bool) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return f"2026-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}T10:00:00Z"
        if fmt == "date":
            return f"2026-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
        if fmt == "time":
            return f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:00"
        if fmt == "email":
            return f"{self.prose.slug().replace('-', '.')}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/{self.prose.slug()}"
        if fmt == "uuid":
            return "12345678-1234-5678-1234-" + f"{self.rng.getrandbits(48):012x}"
        text = self.prose.for_field(name, nested=nested, hint=str(schema.get("description", "")))
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        while len(text) < low:
            text = f"{text} {self.prose.sentences(1)}"
        if high is not None and len(text) > int(high):
            text = text[: int(high)].rstrip() if int(high) > 0 else ""
            while len(text) < low:
                text += "x"
        return text

    def _bounds(self, schema: dict[str, Any], integer: bool) -> tuple[float, float]:
        """The inclusive range to pick from (exclusive float bounds are kept as they are;
        values are then taken strictly inside and checked with `_within`)."""
        lo: float | None = schema.get("minimum")
        hi: float | None = schema.get("maximum")
        if "exclusiveMinimum" in schema:
            ex = schema["exclusiveMinimum"]
            ex = math.floor(ex) + 1 if integer else ex
            lo = ex if lo is None else max(lo, ex)
        if "exclusiveMaximum" in schema:
            ex = schema["exclusiveMaximum"]
            ex = math.ceil(ex) - 1 if integer else ex
            hi = ex if hi is None else min(hi, ex)
        if integer:
            lo = math.ceil(lo) if lo is not None else None
            hi = math.floor(hi) if hi is not None else None
        default_span = 9 if integer else 1.0
        if lo is None and hi is None:
            lo, hi = (1, 10) if integer else (0.0, 1.0)
        elif lo is None:
            lo = hi - default_span  # type: ignore[operator]
        elif hi is None:
            hi = lo + default_span
        if hi < lo:  # contradictory bounds: stay on the lower one
            hi = lo
        return lo, hi  # type: ignore[return-value]

    def score_fraction(self) -> float:
        """Where in its range a score-like number lands on the given attempt.

        First answer to a signature: 0.5-0.6 of the range; each further answer adds 0.2;
        capped at 1.0. With 1..10 that is 6-7, then 8-9, then 9-10.
        """
        jitter = (self.seed % 3) * 0.05
        return min(1.0, 0.5 + jitter + 0.2 * self.attempt)

    def _integer(self, schema: dict[str, Any], name: str, nested: bool) -> int:
        lo, hi = self._bounds(schema, integer=True)
        lo_i, hi_i = int(lo), int(hi)
        if is_score_name(name):
            value = lo_i + math.ceil((hi_i - lo_i) * self.score_fraction())
        else:
            value = self.rng.randint(lo_i, hi_i)
        multiple = schema.get("multipleOf")
        if multiple:
            m = int(multiple) or 1
            candidates = [v for v in range(lo_i, hi_i + 1) if v % m == 0]
            if not candidates:
                # No multiple in range (or a huge range): step from the lower bound.
                candidates = [math.ceil(lo_i / m) * m]
            value = min(candidates, key=lambda v: abs(v - value))
        return max(lo_i, min(hi_i, value))

    def _number(self, schema: dict[str, Any], name: str, nested: bool) -> float:
        lo, hi = self._bounds(schema, integer=False)
        if is_score_name(name):
            value = lo + (hi - lo) * self.score_fraction()
        else:
            value = lo + (hi - lo) * (0.1 + 0.8 * self.rng.random())
        rounded = round(value, 2)
        if _within(rounded, schema):
            value = rounded
        if not _within(value, schema):
            value = (lo + hi) / 2
        multiple = schema.get("multipleOf")
        if multiple:
            value = round(round(value / multiple) * multiple, 10)
        return float(value)

    def _boolean(self, schema: dict[str, Any], name: str, nested: bool) -> bool:
        return self.rng.random() < 0.6

    # -- containers --------------------------------------------------------------------------
    def _array(self, schema: dict[str, Any], name: str, nested: bool) -> list[Any]:
        prefix = schema.get("prefixItems")
        if prefix:
            return [self.value(item, name, nested=True) for item in prefix]
        items = self._resolve(schema.get("items", {"type": "string"}))
        if "description" in schema and "description" not in items:
            items = {**items, "description": schema["description"]}
        # DSPy's "Constraints:" line says min/max length for lists too.
        low = int(schema.get("minItems", schema.get("minLength", 0)))
        high = int(schema.get("maxItems", schema.get("maxLength", max(low, 4))))
        # Lists thin out with depth so nested (or recursive) models stay small.
        most = 4 if self.depth <= 2 else 2 if self.depth <= 4 else 1
        count = low if self.deep else max(low, min(high, self.rng.randint(min(2, most), most)))
        item_name = name[:-1] if name.endswith("s") and len(name) > 3 else name
        choices = items.get("enum")
        if schema.get("uniqueItems") or choices:
            if choices:
                count = min(count, len(choices)) if schema.get("uniqueItems") else count
                if schema.get("uniqueItems"):
                    return self.rng.sample(list(choices), k=max(low, count))
                return [self.rng.choice(list(choices)) for _ in range(count)]
        out: list[Any] = []
        tries = 0
        while len(out) < count and tries < count * 5:
            tries += 1
            value = self.value(items, item_name, nested=True)
            # Unique when asked; for text also preferred (until the tries run out).
            if value in out and (
                schema.get("uniqueItems") or (isinstance(value, str) and tries < count * 3)
            ):
                continue
            out.append(value)
        return out

    def _object(self, schema: dict[str, Any], name: str, nested: bool) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        out: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for key, sub in props.items():
            if self.deep and key not in required:
                continue  # optional parts of a recursive model stop here
            out[key] = self.value(sub, key, nested=True)
        extra = schema.get("additionalProperties")
        if not props and extra is not False:
            value_schema = extra if isinstance(extra, dict) else {"type": "string"}
            key_schema = self._resolve(schema.get("propertyNames", {"type": "string"}))
            keys = self._dict_keys(key_schema)
            low = int(schema.get("minProperties", schema.get("minLength", 0)))
            high = int(schema.get("maxProperties", schema.get("maxLength", max(low, 3))))
            wanted = low if self.deep else max(low, min(high, self.rng.randint(1, 3)))
            keys = keys[:wanted]
            for key in keys:
                out[key] = self.value(value_schema, key, nested=True)
        return out

    def _dict_keys(self, key_schema: dict[str, Any]) -> list[str]:
        if "enum" in key_schema:
            keys = list(key_schema["enum"])
            self.rng.shuffle(keys)
            return keys
        keys = [w.replace(" ", "_") for w in self.prose.words] + ["notes", "extra", "misc"]
        keys = list(dict.fromkeys(keys))
        keys += [f"item_{i}" for i in range(len(keys) + 1, 64)]
        return keys


def _within(value: float, schema: dict[str, Any]) -> bool:
    if "minimum" in schema and value < schema["minimum"]:
        return False
    if "maximum" in schema and value > schema["maximum"]:
        return False
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return False
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return False
    return True
