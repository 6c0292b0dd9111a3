"""The whole benchmark in one run: every scenario, baseline and figure, full or quick.

Full mode (the numbers in docs/performance.md) runs the pty scenarios one after another
so they do not compete for the two cores. Quick mode (the CI smoke test) shrinks every
scenario to about a second and runs the pty scenarios side by side: its figures only
prove that the harness works.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from benchmarks import report
from benchmarks.fanout import measure_fanout
from benchmarks.harness import ROOT
from benchmarks.pipe import measure_pipe
from benchmarks.render import Scenario, run_scenario
from benchmarks.startup import measure_startup


@dataclass(frozen=True)
class Plan:
    scenarios: tuple[Scenario, ...]
    pipe_events: int
    fanout: tuple[float, float]  # phase 1 and phase 2 seconds
    fanout_clients: int
    fanout_rate: float
    startup_runs: int
    parallel: bool


def full_plan(seconds: float = 60.0) -> Plan:
    return Plan(
        scenarios=(
            Scenario("ours_16x50", "ours", 16, seconds=seconds, max_seconds=seconds + 30),
            Scenario("ours_32x50", "ours", 32, seconds=seconds, max_seconds=seconds + 30),
            Scenario("ours_64x50", "ours", 64, seconds=seconds, max_seconds=seconds + 30),
            Scenario("ours_1x50", "ours", 1, seconds=seconds, max_seconds=seconds + 30),
            Scenario("baseline_live_1x50", "live", 1, seconds=seconds),
            Scenario("baseline_live4_1x50", "live4", 1, seconds=seconds),
            Scenario(
                "baseline_live_1x800",
                "live",
                1,
                rate=800.0,
                seconds=seconds,
                max_seconds=seconds + 5,
            ),
            Scenario(
                "baseline_live4_1x800",
                "live4",
                1,
                rate=800.0,
                seconds=seconds,
                max_seconds=seconds + 5,
            ),
            Scenario(
                "baseline_static_16x50", "static", 16, seconds=seconds, max_seconds=seconds + 5
            ),
            Scenario("scrollback_16x10000", "ours", 16, mode="lines", lines=10_000, warmup=0.0),
        ),
        pipe_events=200_000,
        fanout=(15.0, 30.0),
        fanout_clients=5,
        fanout_rate=1600.0,
        startup_runs=5,
        parallel=False,
    )


def quick_plan() -> Plan:
    plan = full_plan(seconds=1.2)
    small = {
        "ours_16x50": 4,
        "ours_32x50": 8,
        "ours_64x50": 8,
        "ours_1x50": 1,
        "baseline_live_1x50": 1,
        "baseline_live4_1x50": 1,
        "baseline_live_1x800": 1,
        "baseline_live4_1x800": 1,
        "baseline_static_16x50": 4,
        "scrollback_16x10000": 4,
    }
    scenarios = tuple(
        replace(
            s,
            agents=small[s.name],
            warmup=0.2,
            max_seconds=s.max_seconds and 1.2 + 10,
            lines=200 if s.mode == "lines" else 0,
            timeout=60.0,
        )
        for s in plan.scenarios
    )
    return Plan(
        scenarios=scenarios,
        pipe_events=5_000,
        fanout=(0.8, 0.8),
        fanout_clients=5,
        fanout_rate=400.0,
        startup_runs=1,
        parallel=True,
    )


def _meta(quick: bool) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "mode": "quick" if quick else "full",
        "started_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "textual": metadata.version("textual"),
        "rich": metadata.version("rich"),
        "aiohttp": metadata.version("aiohttp"),
        "terminal": "200x50 pty, TERM=xterm-256color",
    }


def _guard(
    name: str, fn: Callable[[], dict[str, Any]], log: Callable[[str], None]
) -> dict[str, Any]:
    log(f"running {name} ...")
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:  # one broken figure must not lose the others
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["wall_s"] = round(time.monotonic() - started, 2)
    if "error" in result:
        log(f"  {name}: ERROR {str(result['error']).splitlines()[-1]}")
    return result


def run_all(
    quick: bool = False,
    seconds: float = 60.0,
    only: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    plan = quick_plan() if quick else full_plan(seconds)
    results: dict[str, Any] = {"meta": _meta(quick), "render": {}}

    def wanted(name: str) -> bool:
        return only is None or name in only or name.split("_")[0] in only

    jobs: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        ("render", s.name, lambda s=s: run_scenario(s)) for s in plan.scenarios if wanted(s.name)
    ]
    if wanted("pipe"):
        jobs.append(("pipe", "pipe", lambda: measure_pipe(plan.pipe_events)))
    if wanted("fanout"):
        jobs.append(
            (
                "fanout",
                "fanout",
                lambda: measure_fanout(
                    clients=plan.fanout_clients,
                    rate=plan.fanout_rate,
                    phase1=plan.fanout[0],
                    phase2=plan.fanout[1],
                ),
            )
        )
    if wanted("startup"):
        jobs.append(("startup", "startup", lambda: measure_startup(plan.startup_runs)))
    if plan.parallel:
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = [(kind, name, pool.submit(_guard, name, fn, log)) for kind, name, fn in jobs]
            done = [(kind, name, future.result()) for kind, name, future in futures]
    else:
        done = [(kind, name, _guard(name, fn, log)) for kind, name, fn in jobs]
    for kind, name, result in done:
        if kind == "render":
            results["render"][name] = result
        else:
            results[kind] = result
    results["meta"]["finished_utc"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    results["ratios"] = report.ratios(results)
    results["targets"] = report.targets(results)
    return results
