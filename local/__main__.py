"""`python -m local ...` is the `downbeat` command."""

import sys

from local.cli import main

sys.exit(main())
