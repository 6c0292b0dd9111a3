"""`python -m flock_tui` is `flock-tui`."""

import sys

from flock_tui.cli import main

sys.exit(main())
