"""The user's errors of the command line, and the exit status each one ends with.

Every error that is the user's to fix carries ``exit_code`` (2: the request itself is wrong, a bad
command line, setting or id; 1: the data or a file is) and a one-line message;
:func:`recbole_ext.cli.run_main` prints that line and exits with that status.
"""

import importlib


class UsageError(Exception):
    """A bad command line: one line, exit status 2."""

    exit_code = 2


class MissingExtraError(ImportError):
    """An optional dependency that is not installed: one line with the pip command, exit status 1."""

    exit_code = 1


def require(module, extra, what):
    """``module`` imported, or :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{what} needs the package {module}: pip install 'recbole_ext[{extra}]'") from None
