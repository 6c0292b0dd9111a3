"""Artifacts: typed, immutable records on the blackboard."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from engine.registry import get_type, type_name


def new_id() -> str:
    return uuid.uuid4().hex


class Artifact(BaseModel):
    """One published object: its type name, its payload and where it came from."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    type: str
    payload: dict[str, Any]
    produced_by: str = "external"
    correlation_id: str = Field(default_factory=new_id)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    _obj: BaseModel | None = PrivateAttr(default=None)

    @classmethod
    def from_model(
        cls,
        obj: BaseModel,
        *,
        produced_by: str = "external",
        correlation_id: str | None = None,
        tags: list[str] | None = None,
        artifact_id: str | None = None,
    ) -> Artifact:
        artifact = cls(
            id=artifact_id or new_id(),
            type=type_name(type(obj)),
            payload=obj.model_dump(mode="json"),
            produced_by=produced_by,
            correlation_id=correlation_id or new_id(),
            tags=list(tags or []),
        )
        artifact._obj = obj.model_copy(deep=True)  # later edits by the caller do not leak in
        return artifact

    def to_model(self) -> BaseModel:
        """The payload as an instance of its registered type."""
        if self._obj is None:
            model = get_type(self.type)
            if model is None:
                raise LookupError(f"artifact type {self.type!r} is not registered")
            self._obj = model.model_validate(self.payload)
        return self._obj
