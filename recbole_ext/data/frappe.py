"""Frappe (libfm format) to RecBole atomic files.

Each libfm line is ``label idx:1 idx:1 ...``: a +1/-1 label and ten one-hot
features, one per context field in the fixed order of :data:`FRAPPE_FIELDS`
(Baltrunas et al., "Frappe: Understanding the Usage and Perception of Mobile
App Recommendations In-The-Wild", arXiv:1505.03014). The copy used here
holds only the validation and test parts of the published split; both are
concatenated into one ``<out_dir>/frappe/frappe.inter`` with named token
fields and a 0/1 ``label:float``, so RecBole can split it itself.

    python -m recbole_ext.data.frappe --src ../shared/datasets/frappe --out dataset
"""

import sys
from pathlib import Path

import pandas as pd

from recbole_ext.data.atomic import converter_main, write_atomic

#: field names, in the order the libfm columns hold them
FRAPPE_FIELDS = (
    "user_id",
    "item_id",
    "daytime",
    "weekday",
    "isweekend",
    "homework",
    "cost",
    "weather",
    "country",
    "city",
)
#: parts of the published split present in the shared copy, in reading order
FRAPPE_PARTS = ("frappe.validation.libfm", "frappe.test.libfm")
_LABELS = {"1": 1.0, "+1": 1.0, "-1": 0.0}


def parse_libfm_line(line, path, line_number):
    """``(label, [feature index, ...])`` of one libfm line, or ``ValueError``
    naming ``path`` and ``line_number`` (1-based)."""
    where = f"{path}:{line_number}"
    parts = line.split()
    if not parts:
        raise ValueError(f"{where}: empty line")
    if parts[0] not in _LABELS:
        raise ValueError(f"{where}: label must be +1 or -1, got {parts[0]!r}")
    if len(parts) - 1 != len(FRAPPE_FIELDS):
        raise ValueError(f"{where}: expected {len(FRAPPE_FIELDS)} 'index:1' features, got {len(parts) - 1}")
    indices = []
    for item in parts[1:]:
        index, sep, value = item.partition(":")
        if not sep or not index.isdigit() or value not in ("1", "1.0"):
            raise ValueError(f"{where}: feature {item!r} is not of the form 'index:1'")
        indices.append(index)
    return _LABELS[parts[0]], indices


def read_libfm(path):
    """Rows ``[label, idx_1, ..., idx_10]`` of one frappe libfm file."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            label, indices = parse_libfm_line(line, path, line_number)
            rows.append([label] + indices)
    return rows


def convert_frappe(src_dir, out_dir):
    """Convert the frappe libfm parts in ``src_dir``; returns the folder written
    (``<out_dir>/frappe``)."""
    src = Path(src_dir)
    paths = [src / part for part in FRAPPE_PARTS if (src / part).is_file()]
    if not paths:
        raise ValueError(f"no frappe libfm file ({', '.join(FRAPPE_PARTS)}) in {src}")
    rows = [row for path in paths for row in read_libfm(path)]
    frame = pd.DataFrame(rows, columns=["label"] + list(FRAPPE_FIELDS))
    inter = pd.DataFrame({f"{field}:token": frame[field] for field in FRAPPE_FIELDS})
    inter["label:float"] = frame["label"]
    return write_atomic(Path(out_dir) / "frappe", "frappe", {"inter": inter})


def main(argv=None):
    return converter_main(convert_frappe, __doc__.splitlines()[0], "folder with frappe.validation.libfm / frappe.test.libfm", argv)


if __name__ == "__main__":
    sys.exit(main())
