"""The blackboard: every artifact published during a Flock's life, in order."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from engine.artifacts import Artifact
from engine.registry import type_name

T = TypeVar("T", bound=BaseModel)


class BlackboardStore:
    """An in-memory, append-only store of artifacts."""

    def __init__(self) -> None:
        self._artifacts: dict[str, Artifact] = {}

    async def add(self, artifact: Artifact) -> None:
        self._artifacts[artifact.id] = artifact

    async def get(self, artifact_id: str) -> Artifact | None:
        return self._artifacts.get(artifact_id)

    async def get_by_type(self, model: type[T]) -> list[T]:
        """Every published object of `model`, as instances of it, oldest first."""
        name = type_name(model)
        return [a.to_model() for a in self._artifacts.values() if a.type == name]  # type: ignore[misc]

    async def get_artifacts_by_type(self, model: type[BaseModel] | str) -> list[Artifact]:
        name = model if isinstance(model, str) else type_name(model)
        return [a for a in self._artifacts.values() if a.type == name]

    async def list(self) -> list[Artifact]:
        return list(self._artifacts.values())

    def __len__(self) -> int:
        return len(self._artifacts)
