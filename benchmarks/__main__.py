"""python -m benchmarks [all|render|pipe|fanout|startup|report] ...

python -m benchmarks all --json bench.json          # every figure (about 12 minutes)
python -m benchmarks all --quick                    # a few seconds: the smoke run
python -m benchmarks all --only ours_16x50,pipe     # a subset (scenario names or groups)
python -m benchmarks render --kind ours --agents 32 --rate 50 --seconds 20
python -m benchmarks pipe --events 200000
python -m benchmarks fanout --clients 5 --rate 1600 --phase1 15 --phase2 30
python -m benchmarks startup --runs 5
python -m benchmarks report bench.json              # the table of a saved run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import report


def _write_json(results: dict[str, Any], path: str | None) -> None:
    if not path:
        return
    for stats in results.get("render", {}).values():
        if isinstance(stats, dict) and "timeline" in stats:
            stats["timeline"] = report.downsample(stats["timeline"])
        if isinstance(stats, dict):
            stats.pop("stamps", None)  # per-frame detail: too big for the saved figures
    Path(path).write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {path}", file=sys.stderr)


def _print(results: dict[str, Any]) -> None:
    shown = {k: v for k, v in results.items() if k != "timeline"}
    print(json.dumps(shown, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command")

    p_all = sub.add_parser("all", help="every scenario, baseline and figure")
    p_all.add_argument("--quick", action="store_true", help="a few seconds, tiny scenarios")
    p_all.add_argument("--seconds", type=float, default=60.0, help="length of each rate scenario")
    p_all.add_argument("--only", default="", help="comma-separated scenario names or groups")
    p_all.add_argument("--json", dest="json_path", help="write every figure to this file")

    p_render = sub.add_parser("render", help="one rendering scenario in a 200x50 pty")
    p_render.add_argument("--kind", choices=("ours", "static", "live", "live4"), default="ours")
    p_render.add_argument("--agents", type=int, default=16)
    p_render.add_argument("--rate", type=float, default=50.0)
    p_render.add_argument("--seconds", type=float, default=10.0)
    p_render.add_argument("--lines", type=int, default=0, help="lines mode: lines per agent")
    p_render.add_argument("--source", choices=("child", "pipe"), default="child")
    p_render.add_argument("--json", dest="json_path")
    p_render.add_argument("--profile", help="cProfile the measured process into this file")
    p_render.add_argument(
        "--patch",
        default="",
        help="A/B only: comma-separated proposed changes from benchmarks/experiments.py",
    )

    p_pipe = sub.add_parser("pipe", help="events/s decoded from the child pipe, nothing drawn")
    p_pipe.add_argument("--events", type=int, default=200_000)
    p_pipe.add_argument("--source", choices=("child", "pipe"), default="child")

    p_fan = sub.add_parser("fanout", help="WebSocket fan-out through the bridge")
    p_fan.add_argument("--clients", type=int, default=5)
    p_fan.add_argument("--rate", type=float, default=1600.0)
    p_fan.add_argument("--phase1", type=float, default=15.0)
    p_fan.add_argument("--phase2", type=float, default=30.0)

    p_start = sub.add_parser("startup", help="launch to first painted frame")
    p_start.add_argument("--runs", type=int, default=5)
    p_start.add_argument("--script", default="examples/03_blog_review.py")

    p_report = sub.add_parser("report", help="print the table of a saved --json run")
    p_report.add_argument("path")
    p_report.add_argument("--markdown", action="store_true", help="headings for the docs")

    args = parser.parse_args(argv)
    command = args.command or "all"
    if command == "all":
        from benchmarks.suite import run_all

        if args.command is None:
            args = parser.parse_args(["all"])
        only = {x.strip() for x in args.only.split(",") if x.strip()} or None
        results = run_all(
            quick=args.quick,
            seconds=args.seconds,
            only=only,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
        _write_json(results, args.json_path)
        print(report.format_results(results))
        return 1 if report.errors(results) else 0
    if command == "render":
        from benchmarks.render import Scenario, run_scenario

        label = f"{args.lines}lines" if args.lines else f"{args.rate:g}"
        scenario = Scenario(
            f"{args.kind}_{args.agents}x{label}",
            args.kind,
            args.agents,
            rate=args.rate,
            seconds=args.seconds,
            mode="lines" if args.lines else "rate",
            lines=args.lines,
            max_seconds=args.seconds + (30 if args.kind == "ours" else 5),
        )
        profile = str(Path(args.profile).resolve()) if args.profile else None
        patches = [p.strip() for p in args.patch.split(",") if p.strip()]
        stats = run_scenario(scenario, source=args.source, profile=profile, patches=patches)
        results = {"render": {scenario.name: stats}}
        _write_json(results, args.json_path)
        stats.pop("timeline", None)
        stats.pop("stamps", None)
        _print(stats)
        print(report._table(report.RENDER_HEADERS, report.render_rows(results)))
        return 1 if "error" in stats else 0
    if command == "pipe":
        from benchmarks.pipe import measure_pipe

        _print(measure_pipe(args.events, prefer=args.source))
        return 0
    if command == "fanout":
        from benchmarks.fanout import measure_fanout

        _print(measure_fanout(args.clients, args.rate, args.phase1, args.phase2))
        return 0
    if command == "startup":
        from benchmarks.startup import measure_startup

        _print(measure_startup(args.runs, args.script))
        return 0
    if command == "report":
        saved = json.loads(Path(args.path).read_text())
        print(report.format_results(saved, markdown=args.markdown))
        return 0
    parser.error(f"unknown command {command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
