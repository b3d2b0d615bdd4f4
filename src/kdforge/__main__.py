"""``python -m kdforge``: the same as the ``kdforge`` command."""

import sys

from .cli import main

sys.exit(main())
