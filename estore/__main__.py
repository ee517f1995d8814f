"""`python -m estore` is the `estore` command."""

import sys

from estore.cli import main

sys.exit(main())
