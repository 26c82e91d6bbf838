"""``python3 -m api.cli``: the same as the ``credit-ledger`` console script."""

import sys

from api.cli import main

sys.exit(main())
