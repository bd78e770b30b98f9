"""Amazon Video Games (RecBole's ``Games-6k`` files) -> plain atomic files.

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
    src, out = Path(src_dir), Path(out_dir) / name
    for needed in ("Games.item", "Games-6k.valid.inter", "Games-6k.test.inter"):
        if not (src / needed).is_file():
            raise ValueError(f"amazon-games: {src / needed} not found")
    out.mkdir(parents=True, exist_ok=True)
    sequences = user_sequences(src / "Games-6k.valid.inter", src / "Games-6k.test.inter")
    with open(out / f"{name}.inter", "w", encoding="utf-8") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, items in sequences.items():
            for position, item in enumerate(items):
                handle.write(f"{user}\t{item}\t{position}\n")
    with open(out / f"{name}.item", "w", encoding="utf-8") as handle:
        handle.write("item_id:token\ttitle:token_seq\n")
        for row in _read_rows(src / "Games.item"):
            title = " ".join(row.get("title", "").split())
            handle.write(f"{row['item_id']}\t{title}\n")
    return out


if __name__ == "__main__":
    import sys

    convert_amazon_games(*sys.argv[1:3])
