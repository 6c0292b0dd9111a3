"""The keys of the TUI and what its marks mean: one text for `--help` and the `?` screen."""

from __future__ import annotations

KEYS_HELP = """\
keys (in the TUI):
  tab or ]           focus the next agent pane (and the console when shown)
  shift+tab or [     focus the previous agent pane
  z or enter         zoom the focused pane to full screen and back
  } / {              next / previous page of panes (when they do not all fit)
  m                  the focused pane's finished fields as Markdown, and back
                     (streaming text stays literal)
  f                  show / hide the feed of published artifacts
  c                  show / hide the console (the script's own stdout/stderr)
  ?                  help
  up / down, pgup / pgdn, home
                     scroll the focused pane (or the mouse wheel); scrolling up
                     pauses follow-tail
  end                back to the tail: follow-tail resumes
  q / ctrl+c         quit: the script's process group gets SIGINT, then SIGTERM
                     after 3 s, then SIGKILL (q again: leave at once); flock-tui
                     exits with the script's exit code
  The footer shows the main keys.
"""

LEGEND = """\
what the screen shows:
  badge              IDLE (waits for its input types), QUEUED (triggered, waiting
                     for a free slot or the model's first token), RUNNING
                     (streaming), DONE, ERROR (the run failed: its error is in the
                     pane, the details in the console)
  #n                 the agent's n-th run; earlier runs stay above in the pane
  ▌ run #n ← Type    a run and the input types that triggered it
  field:             the text of one output field, as the model streams it
  ⚙ lines            tool calls and their results (agents with tools)
  published Type     the artifact the run published, as a table; a streamed
                     field shows its first words and "(N words above)"
  bottom border      elapsed time, tokens, tokens per second (from the first
                     token); "‖ paused" when you scrolled up: new text is below,
                     end resumes follow-tail
  status bar         the script's state, agents running, artifacts, tokens,
                     elapsed, warnings (see the console: c), the dashboard
                     address with --web
  page strip         when the panes do not all fit: one dot per agent, and the
                     names of active agents on other pages ({ and } turn pages)
"""
