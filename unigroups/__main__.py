"""``python -m unigroups``: the same as the ``unigroups`` command."""

import sys

from .cli import main

sys.exit(main())
