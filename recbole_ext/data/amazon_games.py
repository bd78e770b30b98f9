"""Amazon Video Games (RecBole's ``Games-6k`` files) to plain atomic files.

Source: the RUCAIBox release of Amazon 2018 "Video Games" reviews (Ni, Li
and McAuley, EMNLP 2019) as RecBole sequential benchmark files:
``Games.item`` (item_id, title), ``Games-6k.valid.inter`` and
``Games-6k.test.inter`` (user_id, item_id_list = ordered history of at most
49 items, item_id = next item). A user's test history ends with their
validation target, so the full sequence is the validation history, the
validation target, then the test target. Each user's sequence is written as
one interaction per item with its position as ``timestamp``.
"""

import csv
from pathlib import Path

import pandas as pd

from recbole_ext.data.atomic import converter_main, write_atomic


def _read_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [column.split(":")[0] for column in next(reader)]
        for row in reader:
            yield dict(zip(header, row))


def user_sequences(valid_path, test_path):
    """``{user: [item, ...]}`` in order, rebuilt from the valid and test rows."""
    sequences = {}
    for row in _read_rows(valid_path):
        sequences[row["user_id"]] = row["item_id_list"].split() + [row["item_id"]]
    for row in _read_rows(test_path):
        history = row["item_id_list"].split()
        known = sequences.get(row["user_id"])
        if known is None or known[-len(history):] != history:
            known = history
        sequences[row["user_id"]] = known + [row["item_id"]]
    return sequences


def convert_amazon_games(src_dir, out_dir, name="amazon-games"):
    """Write ``out_dir/<name>/<name>.inter`` (user_id, item_id, timestamp) and ``.item`` (item_id, title).

    ``out_dir`` is a RecBole ``data_path`` (as for ``convert_movielens``); returns the dataset folder.
    """
    src = Path(src_dir)
    for needed in ("Games.item", "Games-6k.valid.inter", "Games-6k.test.inter"):
        if not (src / needed).is_file():
            raise ValueError(f"amazon-games: {src / needed} not found")
    sequences = user_sequences(src / "Games-6k.valid.inter", src / "Games-6k.test.inter")
    inter = pd.DataFrame(
        [(user, item, position) for user, items in sequences.items() for position, item in enumerate(items)],
        columns=["user_id:token", "item_id:token", "timestamp:float"],
    )
    items = pd.DataFrame(
        [(row["item_id"], " ".join(row.get("title", "").split())) for row in _read_rows(src / "Games.item")],
        columns=["item_id:token", "title:token_seq"],
    )
    return write_atomic(Path(out_dir) / name, name, {"inter": inter, "item": items})


def main(argv=None):
    return converter_main(
        convert_amazon_games, __doc__.splitlines()[0], "folder with Games.item and Games-6k.*.inter", argv,
        name="amazon-games",
    )


if __name__ == "__main__":
    import sys

    sys.exit(main())
