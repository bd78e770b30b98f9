"""Run, tune or benchmark RecBole and recbole_ext models: ``python run.py --help``.

``--benchmark`` runs the lab's head-to-head benchmark (``lab/benchmark.py``,
``python run.py --benchmark --help``); everything else is the library's
command line (``recbole_ext/cli.py``).
"""

import sys

if __name__ == "__main__":
    if "--benchmark" in sys.argv[1:]:
        from lab.benchmark import main
    else:
        from recbole_ext.cli import main
    sys.exit(main())
