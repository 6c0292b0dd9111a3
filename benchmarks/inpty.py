"""Entry point of a measured process, run by the harness inside the pseudo-terminal.

    python -m benchmarks.inpty CONFIG.json

CONFIG holds: kind ("ours", "static", "live", "live4"), producer_args, agents,
input_rate, warmup, source ("child" or "pipe"), stats_path. The stats (see
`Recorder.result`) are written as JSON to stats_path when the run has ended, also when
it failed (with "error").
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from benchmarks.pipe import make_source
from benchmarks.recorder import Recorder


def run(config: dict[str, Any]) -> dict[str, Any]:
    recorder = Recorder(
        warmup=config.get("warmup", 1.0),
        input_rate=config["input_rate"],
        seconds=config.get("seconds", 0.0),
    )
    source, source_kind = make_source(config["producer_args"], prefer=config.get("source", "child"))
    kind = config["kind"]
    patches = list(config.get("patches") or [])
    error: str | None = None
    extra: dict[str, Any] = {}
    try:
        if patches:
            from benchmarks import experiments

            experiments.apply(patches)
        if kind == "ours":
            from benchmarks.ours import make_app

            app = make_app(source, recorder, patches=patches, max_seconds=config.get("max_seconds"))
            app.run()
            from benchmarks.ours import scrollback_figures

            extra["scrollback"] = scrollback_figures(app)
            if app._exception is not None:  # Textual printed it; keep it in the stats
                raise app._exception
        elif kind == "static":
            from benchmarks.baselines import NaiveStaticApp

            naive = NaiveStaticApp(
                source, recorder, config["agents"], max_seconds=config.get("max_seconds")
            )
            naive.run()
            if naive._exception is not None:
                raise naive._exception
        elif kind in ("live", "live4"):
            from benchmarks.baselines import run_rich_live

            asyncio.run(
                run_rich_live(
                    source,
                    recorder,
                    per_token=kind == "live",
                    max_seconds=config.get("max_seconds"),
                )
            )
        else:
            raise ValueError(f"unknown kind {kind!r}")
    except BaseException:  # report, never lose the figures collected so far
        error = traceback.format_exc(limit=8)
    stats = recorder.result()
    stats.update(extra)
    stats["kind"] = kind
    stats["source"] = source_kind
    if patches:
        stats["patches"] = patches
    if error:
        stats["error"] = error
    return stats


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"terminated by signal {signum}")  # run() records it and the stats


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    config = json.loads(Path(sys.argv[1]).read_text())
    profile_path = config.get("profile")
    if profile_path:  # cProfile the whole measured process (slows it down: hotspots only)
        import cProfile

        profiler = cProfile.Profile()
        stats = profiler.runcall(run, config)
        profiler.dump_stats(profile_path)
    else:
        stats = run(config)
    Path(config["stats_path"]).write_text(json.dumps(stats))
    return 1 if "error" in stats else 0


if __name__ == "__main__":
    sys.exit(main())
