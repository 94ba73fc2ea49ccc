"""`python -m glimpse` runs the command line."""

import sys

from glimpse.cli.main import main

sys.exit(main())
