"""``python -m minigan.gradcheck``: the same as ``python -m minigan gradcheck``."""
import sys

from .suite import main

sys.exit(main())
