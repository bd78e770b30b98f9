"""Run, tune or benchmark RecBole and recbole_ext models. See ``python run.py --help``-style usage in README."""

import sys

from recbole_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
