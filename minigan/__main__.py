"""``python -m minigan ...`` is the ``minigan`` command."""
import sys

from .cli import main

sys.exit(main())
