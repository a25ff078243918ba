"""`python -m reactions`: the command line."""

import sys

from reactions.cli import main

sys.exit(main())
