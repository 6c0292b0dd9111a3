"""Shared test configuration.

Textual snapshot SVGs live in the top-level snapshots/ folder, one sub-folder per
test module, instead of syrupy's default tests/__snapshots__/.
"""

from __future__ import annotations

import os
from pathlib import Path

from pytest_textual_snapshot import SVGImageExtension

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_ROOT = ROOT / "snapshots"

# Tests never talk to a real provider and never wait on the offline model's pacing.
os.environ.setdefault("FLOCK_OFFLINE_TPS", "0")
os.environ.pop("DEFAULT_MODEL", None)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _snapshot_dirname(cls: type, *, test_location: object) -> str:
    return str(SNAPSHOT_ROOT / test_location.basename)  # type: ignore[attr-defined]


SVGImageExtension.dirname = classmethod(_snapshot_dirname)  # type: ignore[method-assign, assignment]
