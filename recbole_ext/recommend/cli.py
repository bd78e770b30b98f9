"""``run.py --recommend``, ``--export`` and ``--serve``: a trained model's recommendations from the shell.

    python run.py --recommend --model_file=F --users=196,186 [--topk=10] [--output=recs.csv]
    python run.py --recommend --model_file=F --similar_items=50,172
    python run.py --recommend --model_file=F --history=50,172,133       (sequential models)
    python run.py --export=DIR --model_file=F
    python run.py --serve --model_file=F [--host=127.0.0.1] [--port=8000]

``--data_path=DIR`` points at the datasets' folder when it moved since
training. A bad option or an unknown id prints one line and exits with
status 2; a model file that cannot be rebuilt prints one line and exits 1.
"""


from recbole_ext.errors import UsageError

RECOMMEND_OPTIONS = {
    "recommend": "print a trained model's top-k (--model_file and one of --users, --similar_items, --history)",
    "export": "write a dot-product model's user and item vectors and id maps to this folder (--model_file)",
    "serve": "serve a trained model over HTTP (--model_file, [--host] [--port]; needs the serve extra)",
    "model_file": "--recommend/--export/--serve: checkpoint written by training (saved/<Model>-....pth)",
    "users": "--recommend: comma-separated user ids",
    "similar_items": "--recommend: comma-separated item ids (models with item vectors)",
    "history": "--recommend: a new user's item ids, oldest first (sequential models)",
    "topk": "--recommend: items per user or item (default 10)",
    "output": "--recommend: write the table as CSV to this file (whole or not at all)",
    "filter_seen": "--recommend: leave out the user's own items (default True)",
    "host": "--serve: address to listen on (default 127.0.0.1)",
}
COMMANDS = ("recommend", "export", "serve")
#: options given without a value
FLAGS = ("recommend", "serve")
_QUERIES = ("users", "similar_items", "history")
_ALLOWED_OVERRIDES = ("data_path",)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def is_command(options):
    return any(command in options for command in COMMANDS)


def _ids(value):
    return [part for part in value.replace(",", " ").split() if part]


def _positive(options, key, default):
    value = options.get(key, str(default))
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--{key} must be a positive integer, got '{value}'")
    return int(value)


def _boolean(options, key, default):
    value = options.get(key, str(default)).lower()
    if value not in _TRUE + _FALSE:
        raise UsageError(f"--{key} must be True or False, got '{options[key]}'")
    return value in _TRUE


def _check(options, overrides):
    commands = [command for command in COMMANDS if command in options]
    if len(commands) > 1:
        raise UsageError(f"give one of --recommend, --export, --serve, not {', '.join('--' + c for c in commands)}")
    if "model_file" not in options:
        raise UsageError(f"--{commands[0]} needs --model_file=F (a checkpoint written by training)")
    for key in overrides:
        if key not in _ALLOWED_OVERRIDES:
            raise UsageError(f"--{key} does not apply to --{commands[0]} (settings come from the model file; "
                               f"only --data_path may be given)")
    return commands[0]


def _recommend(recommender, options):
    queries = [key for key in _QUERIES if key in options]
    if len(queries) != 1:
        raise UsageError("--recommend needs exactly one of --users=ID,..., --similar_items=ID,... or --history=ID,...")
    ids, k = _ids(options[queries[0]]), _positive(options, "topk", 10)
    if not ids:
        raise UsageError(f"--{queries[0]} names no id")
    filter_seen = _boolean(options, "filter_seen", True)
    if queries[0] == "users":
        return recommender.recommend(ids, k=k, filter_seen=filter_seen)
    if queries[0] == "similar_items":
        return recommender.similar_items(ids, k=k)
    return recommender.recommend_for_history(ids, k=k, filter_seen=filter_seen)


def _emit(frame, output):
    from recbole_ext.recommend.export import atomic_write_csv

    if output:
        atomic_write_csv(frame, output)
        print(f"{len(frame)} rows written to {output}")
    elif frame.empty:
        print("no recommendation")
    else:
        print(frame.to_string(index=False))


def _run(command, options, overrides):
    from recbole_ext.recommend import Recommender

    if command == "serve":
        from recbole_ext.serve import serve

        port = options.get("port", "8000")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--port must be a port number, got '{port}'")
        serve(options["model_file"], options.get("host", "127.0.0.1"), int(port), overrides.get("data_path"))
        return
    if command == "export" and options["export"] in ("", "true"):
        raise UsageError("--export needs a folder: --export=DIR")
    recommender = Recommender.from_checkpoint(options["model_file"], data_path=overrides.get("data_path"))
    if command == "export":
        path = recommender.export(options["export"])
        print(f"vectors and id maps of {recommender.model_name} written to {path}")
        return
    _emit(_recommend(recommender, options), options.get("output"))


def run_command(options, overrides):
    """Run ``--recommend``, ``--export`` or ``--serve`` (errors end in ``recbole_ext.cli.run_main``)."""
    _run(_check(options, overrides), options, overrides)
