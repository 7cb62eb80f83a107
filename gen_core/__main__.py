"""``python -m gen_core``: see :mod:`gen_core.cli`."""

import sys

from gen_core.cli import main

sys.exit(main())
