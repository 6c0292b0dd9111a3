"""Ratios, target checks, the readable table, and the list of figures a run must produce."""

from __future__ import annotations

from typing import Any

RENDER_FIGURES = (
    "cpu_share",
    "cpu_us_per_token",
    "fps",
    "latency.p50_ms",
    "latency.p95_ms",
    "latency.p99_ms",
    "backlog.max",
    "backlog.bounded",
    "rss_end_mb",
    "peak_rss_mb",
)
REQUIRED = (
    *(f"render.ours_16x50.{f}" for f in RENDER_FIGURES),
    *(f"render.ours_32x50.{f}" for f in RENDER_FIGURES),
    *(f"render.ours_64x50.{f}" for f in RENDER_FIGURES),
    *(f"render.ours_1x50.{f}" for f in RENDER_FIGURES),
    "render.baseline_live_1x50.cpu_us_per_token",
    "render.baseline_live_1x50.latency.p95_ms",
    "render.baseline_live4_1x50.cpu_us_per_token",
    "render.baseline_live_1x800.cpu_us_per_token",
    "render.baseline_live4_1x800.cpu_us_per_token",
    "render.baseline_static_16x50.cpu_us_per_token",
    "render.baseline_static_16x50.latency.p95_ms",
    "render.scrollback_16x10000.rss_end_mb",
    "render.scrollback_16x10000.peak_rss_mb",
    "pipe.events_per_s",
    "fanout.readers_latency.p95_ms",
    "fanout.readers_latency_with_stuck.p95_ms",
    "fanout.stuck_client_cost_mib",
    "startup.median_s",
    "ratios.cpu_per_token_vs_live",
    "ratios.cpu_per_token_vs_live_same_rate",
    "ratios.cpu_per_token_vs_live_800",
    "ratios.cpu_per_token_vs_static",
)


def get(results: dict[str, Any], path: str) -> Any:
    node: Any = results
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def missing_figures(results: dict[str, Any]) -> list[str]:
    return [path for path in REQUIRED if get(results, path) is None]


def errors(results: dict[str, Any]) -> list[str]:
    found = []
    for section in ("pipe", "fanout", "startup"):
        if isinstance(results.get(section), dict) and "error" in results[section]:
            found.append(f"{section}: {results[section]['error']}")
    for name, stats in results.get("render", {}).items():
        if "error" in stats:
            found.append(f"render.{name}: {stats['error']}")
    return found


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b <= 0:
        return None
    return round(a / b, 2)


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """How many times fewer CPU microseconds per token ours needs than each baseline."""
    per = {
        name: get(results, f"render.{name}.cpu_us_per_token") for name in results.get("render", {})
    }
    return {
        # (a) Flock's way (one agent, re-rendered per token) vs ours at 16 x 50 tok/s
        "cpu_per_token_vs_live": _ratio(per.get("baseline_live_1x50"), per.get("ours_16x50")),
        # (a) vs ours at the same token rate (one agent x 50 tok/s)
        "cpu_per_token_vs_live_same_rate": _ratio(
            per.get("baseline_live_1x50"), per.get("ours_1x50")
        ),
        # (a) vs ours at the same total token rate: (a) one agent x 800, ours 16 x 50
        "cpu_per_token_vs_live_800": _ratio(per.get("baseline_live_1x800"), per.get("ours_16x50")),
        # (a') at 800 tok/s vs ours 16 x 50
        "cpu_per_token_vs_live4_800": _ratio(
            per.get("baseline_live4_1x800"), per.get("ours_16x50")
        ),
        # (a') Flock's Live as configured (4 Hz auto refresh) vs ours at 16 x 50
        "cpu_per_token_vs_live4": _ratio(per.get("baseline_live4_1x50"), per.get("ours_16x50")),
        # (b) naive Static.update(whole_text) at 16 x 50 vs ours at 16 x 50
        "cpu_per_token_vs_static": _ratio(per.get("baseline_static_16x50"), per.get("ours_16x50")),
    }


def _check(name: str, target: str, value: Any, ok: bool | None, unit: str = "") -> dict[str, Any]:
    return {"name": name, "target": target, "value": value, "unit": unit, "ok": ok}


def _le(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else value <= limit


def _ge(value: Any, limit: float) -> bool | None:
    return None if not isinstance(value, int | float) else value >= limit


def _pct(value: Any) -> float | None:
    return None if not isinstance(value, int | float) else round(value * 100, 1)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    g = lambda path: get(results, path)  # noqa: E731
    checks = [
        _check("16x50 p95", "<= 100 ms", g("render.ours_16x50.latency.p95_ms"), _le(g("render.ours_16x50.latency.p95_ms"), 100), "ms"),
        _check("16x50 p99", "<= 150 ms", g("render.ours_16x50.latency.p99_ms"), _le(g("render.ours_16x50.latency.p99_ms"), 150), "ms"),
        _check("16x50 CPU", "<= 40 %", _pct(g("render.ours_16x50.cpu_share")), _le(g("render.ours_16x50.cpu_share"), 0.40), "%"),
        _check("16x50 backlog", "no growth", g("render.ours_16x50.backlog.slope_per_s"), g("render.ours_16x50.backlog.bounded"), "ev/s slope"),
        _check("32x50 CPU", "<= 75 %", _pct(g("render.ours_32x50.cpu_share")), _le(g("render.ours_32x50.cpu_share"), 0.75), "%"),
        _check("32x50 fps", ">= 20", g("render.ours_32x50.fps"), _ge(g("render.ours_32x50.fps"), 20), "fps"),
        _check("32x50 p95", "<= 200 ms", g("render.ours_32x50.latency.p95_ms"), _le(g("render.ours_32x50.latency.p95_ms"), 200), "ms"),
        _check("64x50 backlog", "bounded", g("render.ours_64x50.backlog.max"), g("render.ours_64x50.backlog.bounded"), "events max"),
        _check("CPU/token vs (a), 800 tok/s both", ">= 10x lower", g("ratios.cpu_per_token_vs_live_800"), _ge(g("ratios.cpu_per_token_vs_live_800"), 10), "x"),
        _check("CPU/token vs (a), 50 tok/s both", ">= 10x lower", g("ratios.cpu_per_token_vs_live_same_rate"), _ge(g("ratios.cpu_per_token_vs_live_same_rate"), 10), "x"),
        _check("pipe", ">= 20,000 ev/s", g("pipe.events_per_s"), _ge(g("pipe.events_per_s"), 20_000), "ev/s"),
        _check("first frame", "<= 0.8 s", g("startup.median_s"), _le(g("startup.median_s"), 0.8), "s"),
        _check("5 WS clients p95", "<= 50 ms", g("fanout.readers_latency.p95_ms"), _le(g("fanout.readers_latency.p95_ms"), 50), "ms"),
        _check("WS p95 with stuck client", "<= 50 ms", g("fanout.readers_latency_with_stuck.p95_ms"), _le(g("fanout.readers_latency_with_stuck.p95_ms"), 50), "ms"),
        _check("never-reading client", "<= 16 MiB", g("fanout.stuck_client_cost_mib"), _le(g("fanout.stuck_client_cost_mib"), 16), "MiB"),
        _check("16x10,000 lines RSS", "<= 250 MB", g("render.scrollback_16x10000.peak_rss_mb"), _le(g("render.scrollback_16x10000.peak_rss_mb"), 250), "MB"),
    ]  # fmt: skip
    return checks


# -- the table ---------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        padded = (
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def render_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, s in results.get("render", {}).items():
        sc = s.get("scenario", {})
        offered = sc.get("agents", 0) * sc.get("rate", 0) if sc.get("mode") == "rate" else None
        lat = s.get("latency", {})
        backlog = s.get("backlog", {}) or {}
        rows.append(
            [
                name,
                _fmt(offered, 0),
                _fmt(s.get("applied_rate"), 0),
                _fmt(_pct(s.get("cpu_share"))),
                _fmt(s.get("cpu_us_per_token"), 0),
                _fmt(s.get("fps")),
                _fmt(lat.get("p50_ms")),
                _fmt(lat.get("p95_ms")),
                _fmt(lat.get("p99_ms")),
                _fmt(backlog.get("max")),
                _fmt(backlog.get("slope_per_s")),
                _fmt((s.get("behind_schedule") or {}).get("max")),
                _fmt(s.get("rss_end_mb")),
                _fmt(s.get("peak_rss_mb")),
            ]
        )
    return rows


RENDER_HEADERS = [
    "scenario", "tok/s in", "applied/s", "CPU %", "us/token", "fps",
    "p50 ms", "p95 ms", "p99 ms", "backlog max", "backlog slope/s", "behind max",
    "RSS MB", "peak MB",
]  # fmt: skip


def format_results(results: dict[str, Any], markdown: bool = False) -> str:
    meta = results.get("meta", {})
    h = "### " if markdown else ""
    out = [
        f"{h}flock-tui benchmarks ({meta.get('mode')} mode) {meta.get('started_utc', '')} UTC, "
        f"commit {meta.get('commit', '?')}, {meta.get('cpus')} CPUs, load {meta.get('load_average')}",
        "",
        f"{h}Rendering in a 200x50 pty (CPU = share of one core of the renderer process)",
        "",
        _table(RENDER_HEADERS, render_rows(results)),
    ]
    pipe = results.get("pipe") or {}
    fan = results.get("fanout") or {}
    start = results.get("startup") or {}
    other = [
        ["pipe decode (no drawing)", f"{_fmt(pipe.get('events_per_s'), 0)} ev/s, {_fmt(pipe.get('cpu_us_per_event'))} us/event ({pipe.get('source', '-')})"],
        [f"WS fan-out: {fan.get('clients', '-')} clients x {_fmt(fan.get('rate'), 0)} ev/s", f"p50 {_fmt(get(fan, 'readers_latency.p50_ms'))} / p95 {_fmt(get(fan, 'readers_latency.p95_ms'))} / p99 {_fmt(get(fan, 'readers_latency.p99_ms'))} ms"],
        ["  ... plus one never-reading client", f"p95 {_fmt(get(fan, 'readers_latency_with_stuck.p95_ms'))} ms; server RSS +{_fmt(fan.get('stuck_client_cost_mib'), 2)} MiB ({_fmt(fan.get('server_rss_phase1_mb'))} -> {_fmt(fan.get('server_rss_phase2_mb'))} MB)"],
        ["start-up to first frame", f"median {_fmt(start.get('median_s'), 3)} s (min {_fmt(start.get('min_s'), 3)}, max {_fmt(start.get('max_s'), 3)}, {start.get('runs', '-')} runs)"],
    ]  # fmt: skip
    out += ["", f"{h}Channel, bridge, start-up", "", _table(["figure", "value"], other)]
    r = results.get("ratios", {})
    out += [
        "",
        f"{h}CPU per token, baseline / ours (x times lower)",
        "",
        _table(
            ["baseline", "ours", "same token rate", "baseline us/token ÷ ours"],
            [
                [
                    "(a) Live per token, 1x800",
                    "16x50",
                    "yes (800/s)",
                    _fmt(r.get("cpu_per_token_vs_live_800"), 2),
                ],
                [
                    "(a) Live per token, 1x50",
                    "1x50",
                    "yes (50/s)",
                    _fmt(r.get("cpu_per_token_vs_live_same_rate"), 2),
                ],
                [
                    "(a) Live per token, 1x50",
                    "16x50",
                    "no",
                    _fmt(r.get("cpu_per_token_vs_live"), 2),
                ],
                [
                    "(a') Live 4 Hz, 1x800",
                    "16x50",
                    "yes (800/s)",
                    _fmt(r.get("cpu_per_token_vs_live4_800"), 2),
                ],
                ["(a') Live 4 Hz, 1x50", "16x50", "no", _fmt(r.get("cpu_per_token_vs_live4"), 2)],
                [
                    "(b) naive Static, 16x50",
                    "16x50",
                    "yes (800/s)",
                    _fmt(r.get("cpu_per_token_vs_static"), 2),
                ],
            ],
        ),
    ]
    rows = [
        [t["name"], t["target"], f"{_fmt(t['value'], 2)} {t['unit']}".strip(), _fmt(t["ok"])]
        for t in results.get("targets", [])
    ]
    series = []
    for name in ("ours_16x50", "ours_32x50", "ours_64x50"):
        points = backlog_series(results.get("render", {}).get(name, {}))
        if points:
            series.append([name, "  ".join(f"{t:g}s:{b}" for t, b in points)])
    if series:
        out += ["", f"{h}Backlog over time (events received, not yet applied)", ""]
        out += [_table(["scenario", "t:backlog"], series)]
    out += ["", f"{h}Targets (issue 5)", "", _table(["target", "wanted", "measured", "met"], rows)]
    problems = errors(results)
    if problems:
        out += ["", "Errors:"] + [f"  {p.splitlines()[-1] if p else p}" for p in problems]
    missing = missing_figures(results)
    if missing:
        out += ["", f"Missing figures: {', '.join(missing)}"]
    if meta.get("mode") == "quick":
        out += [
            "",
            "Quick mode: tiny scenarios run side by side; the figures only show the harness works.",
        ]
    return "\n".join(out)


def downsample(rows: list[list[float]], limit: int = 240) -> list[list[float]]:
    if len(rows) <= limit:
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)] + [rows[-1]]


def backlog_series(stats: dict[str, Any], points: int = 12) -> list[tuple[float, int]]:
    """(seconds since the first sample, backlog) at evenly spaced points, for the docs."""
    rows = stats.get("timeline") or []
    if not rows:
        return []
    t0 = rows[0][0]
    picks = [
        rows[min(len(rows) - 1, round(i * (len(rows) - 1) / (points - 1)))] for i in range(points)
    ]
    return [(round(r[0] - t0, 1), int(r[3])) for r in picks]
