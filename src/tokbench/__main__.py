"""``python -m tokbench`` runs the command line."""

import sys

from tokbench.cli.main import main

sys.exit(main())
