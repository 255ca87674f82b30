"""`python -m core.cli`: the `crowdnest` command."""

import sys

from core.cli import main

sys.exit(main())
