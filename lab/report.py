"""Printing a study's markdown report and writing it to its results file."""

from pathlib import Path

from recbole_ext.files import write_text_atomically


def publish(lines, output=None):
    """Print ``lines`` as one markdown text and, when ``output`` is given, write it there (whole or not at all)."""
    text = "\n".join(lines) + "\n"
    print(text)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(output, text)
