"""Writing and checking RecBole atomic files (``<name>.inter``, ``.item``, ``.user``)."""

import os
import tempfile
from pathlib import Path

_FIELD_TYPES = {"token", "token_seq", "float", "float_seq"}


def write_atomic(folder, name, tables):
    """Write ``{suffix: DataFrame}`` as ``folder/name.suffix``, all or nothing.

    Columns must be named ``field:type``. Every file is written to a temporary
    name first and renamed only after all of them were written, so a failure
    leaves no half-written dataset behind.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for suffix, frame in tables.items():
            for column in frame.columns:
                _, _, field_type = column.partition(":")
                if field_type not in _FIELD_TYPES:
                    raise ValueError(f"column '{column}' of {name}.{suffix} needs a type in {sorted(_FIELD_TYPES)}")
            handle, tmp = tempfile.mkstemp(dir=folder, suffix=f".{suffix}.tmp")
            os.close(handle)
            staged.append((tmp, folder / f"{name}.{suffix}"))
            frame.to_csv(tmp, sep="\t", index=False)
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)
    return folder


_BYTE_ORDER_MARK = "\ufeff"


def check_atomic_file(path):
    """Raise ``ValueError`` naming the file and line if ``path`` is malformed."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        header_line = handle.readline()
        if header_line.startswith(_BYTE_ORDER_MARK):
            raise ValueError(
                f"{path}:1: the file starts with a byte-order mark, which RecBole would read as part of the "
                "first column's name: save it as UTF-8 without BOM"
            )
        header = header_line.rstrip("\n").split("\t")
        _check_header(path, header)
        for number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(header):
                raise ValueError(f"{path}:{number}: {len(cells)} columns, header has {len(header)}")
            for column, cell in zip(header, cells):
                if column.endswith(":float") and cell.strip():
                    try:
                        float(cell)
                    except ValueError:
                        raise ValueError(f"{path}:{number}: field '{column}' is not a number: {cell!r}") from None


def _check_header(path, header):
    seen = set()
    for column in header:
        field, _, field_type = column.partition(":")
        if not field or field_type not in _FIELD_TYPES:
            raise ValueError(
                f"{path}:1: header column '{column}' must be 'name:type' with type in {sorted(_FIELD_TYPES)}"
            )
        if field in seen:
            raise ValueError(f"{path}:1: field '{field}' appears twice in the header: rename or drop one")
        seen.add(field)


def converter_main(convert, description, src_help, argv=None, name=None):
    """Command line shared by the converters: ``--src DIR [--out dataset] [--name NAME]``.

    ``convert(src, out[, name])`` returns the folder written; a ``ValueError`` /
    ``OSError`` (missing file, malformed line) prints one line and exits 2.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--src", required=True, help=src_help)
    parser.add_argument("--out", default="dataset", help="RecBole data_path to write into")
    if name is not None:
        parser.add_argument("--name", default=name, help="dataset name")
    args = parser.parse_args(argv)
    try:
        folder = convert(args.src, args.out, args.name) if name is not None else convert(args.src, args.out)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder}")
    return 0
