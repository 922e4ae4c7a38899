"""``python -m triginfer.cli``."""

import sys

from triginfer.cli import main

sys.exit(main())
