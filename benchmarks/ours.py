"""Our renderer under test: the real FlockApp with a recording subclass.

`events_applied(batch)` (FlockApp's no-op hook, called right after each batch has been
applied to the widgets) feeds the recorder and schedules `call_after_refresh(stamp)`,
so latency runs from the producer's `t_created` to the moment the frame showing the batch
has been produced. Frames are counted where Textual writes them (`App._display`, the one
place a compositor update becomes terminal output; textual 8.2.8).
"""

from __future__ import annotations

from typing import Any

from benchmarks.recorder import CountingSource, Recorder
from engine.events import Envelope


def make_app(source: Any, recorder: Recorder, *, title: str = "flock-tui benchmark") -> Any:
    from flock_tui.app import FlockApp

    class BenchFlockApp(FlockApp):
        def events_applied(self, batch: list[Envelope]) -> None:
            super().events_applied(batch)
            if recorder.on_applied(batch):
                self.call_after_refresh(recorder.stamp)

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None and not self._batch_count:
                recorder.frame()
            super()._display(screen, renderable)

        def on_mount(self) -> None:
            self.run_worker(recorder.sample_forever(), group="benchmark-sampler")

    return BenchFlockApp(CountingSource(source, recorder), exit_on_finish=True, title=title)
