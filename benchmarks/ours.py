"""Our renderer under test: the real FlockApp with a recording subclass.

`events_applied(batch)` (FlockApp's no-op hook, called right after each batch has been
applied to the widgets) feeds the recorder and schedules `call_after_refresh(stamp)`,
so latency runs from the producer's `t_created` to the moment the frame showing the batch
has been produced. Frames are counted where Textual writes them (`App._display`, the one
place a compositor update becomes terminal output; textual 8.2.8).
"""

from __future__ import annotations

import inspect
from pathlib import Path, PurePath
from typing import Any

from benchmarks import experiments
from benchmarks.recorder import CountingSource, Recorder
from engine.events import Envelope


def _absolute_css(app_class: type) -> Any:
    """FlockApp's CSS_PATH made absolute: Textual resolves a relative one against the
    module of the subclass (here benchmarks/), not of FlockApp."""
    css = app_class.CSS_PATH
    base = Path(inspect.getfile(app_class)).parent
    if css is None:
        return None
    if isinstance(css, str | PurePath):
        return str(base / css)
    return [str(base / item) for item in css]


def make_app(
    source: Any,
    recorder: Recorder,
    *,
    title: str = "flock-tui benchmark",
    patches: list[str] | None = None,
    max_seconds: float | None = None,
) -> Any:
    from flock_tui.app import FlockApp

    freeze = "gc-freeze" in (patches or [])

    class BenchFlockApp(FlockApp):
        CSS_PATH = _absolute_css(FlockApp)

        def events_applied(self, batch: list[Envelope]) -> None:
            if freeze:
                experiments.gc_freeze_once()
            super().events_applied(batch)
            if recorder.on_applied(batch):
                self.call_after_refresh(recorder.stamp)

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None and not self._batch_count:
                recorder.frame()
            super()._display(screen, renderable)

        def on_mount(self) -> None:
            self.run_worker(recorder.sample_forever(), group="benchmark-sampler")
            if max_seconds:
                self.set_timer(max_seconds, self._benchmark_cap)

        def _benchmark_cap(self) -> None:
            recorder.notes.append(
                f"stopped after {max_seconds:g}s with "
                f"{recorder.received - recorder.applied} tokens not yet drawn"
            )
            self.exit(0)

    return BenchFlockApp(CountingSource(source, recorder), exit_on_finish=True, title=title)


def scrollback_figures(app: Any) -> dict[str, Any]:
    """Visual rows kept and trimmed per pane (reads FlockApp.panes -> LineView.document)."""
    try:
        documents = [pane.document for pane in app.panes.values()]
        rows = [doc.height for doc in documents]
        trimmed = [doc.trimmed for doc in documents]
    except AttributeError as exc:  # the app's internals moved: say so, do not fail
        return {"error": f"cannot read pane documents: {exc}"}
    return {
        "panes": len(rows),
        "rows_min": min(rows, default=0),
        "rows_max": max(rows, default=0),
        "rows_trimmed_total": sum(trimmed),
    }
