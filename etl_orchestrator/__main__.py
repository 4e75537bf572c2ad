"""`python -m etl_orchestrator` runs the command line."""

import sys

from etl_orchestrator.cli import main

sys.exit(main())
