"""`python -m mlr_copilot.cli`: the same as the `mlr-copilot` console script."""

import sys

from . import main

sys.exit(main())
