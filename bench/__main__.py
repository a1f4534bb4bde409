"""``python -m bench``: run the benchmarks (see :mod:`bench.runner` and ``--help``)."""

import sys

from bench.runner import main

sys.exit(main())
