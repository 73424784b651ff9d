"""``python -m losslab.cli``: the same as the ``losslab`` console script."""

import sys

from losslab.cli.main import main

sys.exit(main())
