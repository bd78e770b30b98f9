"""MovieLens csv (ml-latest, ml-latest-small, ml-25m...) to RecBole atomic files.

Writes ``<out_dir>/<name>/<name>.inter`` (user_id, item_id, rating,
timestamp) and ``<name>.item`` (movie_title, release_year, class = genres),
the same field names as RecBole's embedded ml-100k, so configs carry over.

``tags.csv`` is not read: its tags are free text written by users at given
times, so as item features they would hand a model what users wrote after
the split (on ml-latest-small, tags by the very users whose later events are
held out).

    python -m recbole_ext.data.movielens --src ../shared/datasets/ml-latest-small --out dataset
"""

import re
import sys
from pathlib import Path

import pandas as pd

from recbole_ext.data.atomic import converter_main, write_atomic

_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
_REQUIRED = {
    "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    "movies.csv": ["movieId", "title", "genres"],
}


def _read_csv(path, required):
    if not path.is_file():
        raise ValueError(f"MovieLens file not found: {path}")
    frame = pd.read_csv(path)
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(frame.columns)})")
    bad = frame[required].isna().any(axis=1)
    if bad.any():
        row = int(bad.idxmax()) + 2  # 1-based, after the header line
        raise ValueError(f"{path}:{row}: empty value in a required column")
    return frame


def _split_title(title):
    match = _TITLE_YEAR.match(str(title))
    return (match.group(1), match.group(2)) if match else (str(title).strip(), "")


def _clean_words(text):
    """Space-separated tokens without the atomic-file separators."""
    return " ".join(str(text).replace("\t", " ").split())


def _movie_table(src, movie_ids):
    movies = _read_csv(src / "movies.csv", _REQUIRED["movies.csv"])
    movies = movies[movies["movieId"].isin(movie_ids)]
    titles, years = zip(*movies["title"].map(_split_title)) if len(movies) else ((), ())
    genres = movies["genres"].map(lambda g: "" if g == "(no genres listed)" else g.replace("|", " "))
    return pd.DataFrame(
        {
            "item_id:token": movies["movieId"].astype(str).values,
            "movie_title:token_seq": [_clean_words(t) for t in titles],
            "release_year:token": list(years),
            "class:token_seq": [_clean_words(g) for g in genres],
        }
    )


def convert_movielens(src_dir, out_dir, name="ml-latest-small"):
    """Convert a MovieLens csv folder; returns the dataset folder written."""
    src = Path(src_dir)
    ratings = _read_csv(src / "ratings.csv", _REQUIRED["ratings.csv"])
    inter = pd.DataFrame(
        {
            "user_id:token": ratings["userId"].astype(str),
            "item_id:token": ratings["movieId"].astype(str),
            "rating:float": ratings["rating"].astype(float),
            "timestamp:float": ratings["timestamp"].astype(float),
        }
    )
    items = _movie_table(src, set(ratings["movieId"]))
    return write_atomic(Path(out_dir) / name, name, {"inter": inter, "item": items})


def main(argv=None):
    return converter_main(
        convert_movielens, __doc__.splitlines()[0], "folder with ratings.csv and movies.csv", argv, name="ml-latest-small"
    )


if __name__ == "__main__":
    sys.exit(main())
