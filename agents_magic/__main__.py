"""``python -m agents_magic``: the command line."""

import sys

from .cli import main

sys.exit(main())
