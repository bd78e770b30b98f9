"""Command line of ``run.py``: RecBole's ``run_recbole.py`` and ``run_hyper.py`` in one.

    python run.py --model=WALS [--dataset=ml-100k] [--config_files="a.yaml b.yaml"] [--key=value ...]
    python run.py --model=WALS --params_file=hyper/WALS.test [--algo=bayes] [--max_evals=10] [--output_file=F]
    python run.py --model=ARGUS --nproc=2 [--world_size=4 --group_offset=0 --ip=HOST --port=PORT]
    python run.py --benchmark --help      (the lab's head-to-head benchmark, lab/benchmark.py)
    python run.py --recommend --model_file=F --users=196,186 [--topk=10] [--output=recs.csv]
    python run.py --export=DIR --model_file=F
    python run.py --serve --model_file=F [--host=127.0.0.1] [--port=8000]

``--key=value`` overrides any RecBole setting, with RecBole's precedence
(command line above config dicts above config files above model yaml).
Errors in the command line print one line and exit with status 2.
"""

import ast
import difflib
import os
import sys
from pathlib import Path

import recbole_ext  # noqa: F401  (applies compat, registers plugin models)
from recbole_ext import registry
from recbole_ext.data.atomic import check_atomic_file
from recbole_ext.errors import UsageError
from recbole_ext.files import write_text_atomically
from recbole_ext.settings import SettingsError
from recbole_ext.recommend import cli as recommend_cli
from recbole_ext.runner import params_file_lines
from recbole_ext.trainer import NaNLossError

_CLI_OPTIONS = {
    "model": "model name (plugin or RecBole built-in)",
    "dataset": "dataset name (default ml-100k, embedded in RecBole)",
    "config_files": "space-separated yaml files",
    "params_file": "HyperTuning search space (.test file)",
    "algo": "HyperTuning algorithm: exhaustive, random or bayes",
    "max_evals": "HyperTuning trial budget",
    "early_stop": "HyperTuning: stop after this many trials without improvement",
    "output_file": "HyperTuning result file",
    "resume": "continue an interrupted run from its last checkpoint (saved/<run>-last.pth), same settings",
    "best_config": "HyperTuning: write the best settings to this yaml (for --config_files, or the benchmark's --model_configs)",
    "tool": "HyperTuning engine: hyperopt (RecBole's, one trial at a time) or ray (trials in parallel)",
    "ray_address": "HyperTuning with --tool=ray: address of a running Ray cluster (default: start one here)",
    "cpus_per_trial": "HyperTuning with --tool=ray: CPUs (torch threads) per trial (default 1)",
    "nproc": "data-parallel training: processes started on this machine (torch.distributed)",
    "world_size": "data-parallel training: processes on all machines (default nproc)",
    "ip": "data-parallel training: address of the machine that runs rank 0",
    "port": "data-parallel training: free port on that machine (default: any free port, one machine only); --serve: port (default 8000)",
    "group_offset": "data-parallel training: ranks started on earlier machines",
    **recommend_cli.RECOMMEND_OPTIONS,
}
_DISTRIBUTED_OPTIONS = ("nproc", "world_size", "ip", "port", "group_offset")
_ALGOS = ("exhaustive", "random", "bayes")
_TOOLS = ("hyperopt", "ray")
_PARAM_TYPES = {"choice": 1, "uniform": 2, "quniform": 3, "loguniform": 2}
_EMBEDDED_DATASETS = ("ml-100k",)
_ATOMIC_SUFFIXES = ("inter", "user", "item")


def options_help(synopsis, options):
    """A ``--help`` text: the synopsis and one line per option."""
    width = max(len(key) for key in options) + 4
    lines = [synopsis.strip(), "", "options:"]
    lines += [f"  --{key:<{width}}{text}" for key, text in options.items()]
    lines += ["", "Any other --key=value is a RecBole or model setting (recbole_ext/properties/model/<Model>.yaml)."]
    return "\n".join(lines)


def usage():
    """The ``--help`` text of run.py."""
    return options_help(__doc__, _CLI_OPTIONS)


#: options given without a value (``--benchmark``, ``--recommend``, ``--serve``)
_FLAGS = ("benchmark",) + recommend_cli.FLAGS


def parse_args(argv, known_options=None):
    """Split ``argv`` into the command's options and RecBole ``--key=value`` overrides."""
    known_options = _CLI_OPTIONS if known_options is None else known_options
    options, overrides = {}, {}
    for arg in argv:
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument '{arg}': options look like --key=value")
        key, has_value, value = arg[2:].partition("=")
        if not key:
            raise UsageError(f"empty option name in '{arg}'")
        target = options if key in known_options else overrides
        if not has_value and key not in _FLAGS:
            raise UsageError(f"option --{key} needs a value: --{key}=VALUE")
        target[key] = value if has_value else "true"
    return options, overrides


def data_path(overrides, config_files=()):
    """Where RecBole will look for datasets: command line, else the last config file that sets it."""
    import yaml

    path = "dataset/"
    for file in config_files:
        with open(file, encoding="utf-8") as handle:
            path = (yaml.safe_load(handle) or {}).get("data_path", path)
    return Path(overrides.get("data_path", path))


def check_model(name):
    if registry.is_plugin_model(name) or name in registry.builtin_model_names():
        return
    choices = registry.plugin_model_names() + list(registry.builtin_model_names())
    close = difflib.get_close_matches(name, choices, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UsageError(f"unknown model '{name}'{hint}; valid choices: {', '.join(choices)}")


def available_datasets(data_path):
    found = {p.name for p in data_path.glob("*") if (p / f"{p.name}.inter").is_file()}
    return sorted(found | set(_EMBEDDED_DATASETS))


def check_dataset(name, overrides, config_files=()):
    """The dataset exists locally and its atomic files are well-formed."""
    root = data_path(overrides, config_files)
    if name in available_datasets(root):
        for path in sorted((root / name).glob(f"{name}.*")):
            if path.suffix.lstrip(".") in _ATOMIC_SUFFIXES:
                check_atomic_file(path)
        return
    raise UsageError(
        f"unknown dataset '{name}': no {root / name / (name + '.inter')}; "
        f"valid choices: {', '.join(available_datasets(root))} "
        "(convert raw data first, e.g. python -m recbole_ext.data.movielens --src DIR --out dataset; "
        "datasets are never downloaded)"
    )


def check_config_files(config_files):
    from recbole_ext.settings import check_yaml_file

    for path in config_files:
        if not Path(path).is_file():
            raise UsageError(f"config file not found: {path}")
        check_yaml_file(path)


def check_params_file(path, model=None, dataset="ml-100k", config_files=()):
    """Validate a HyperTuning ``.test`` file line by line (RecBole's own parser skips or evals bad
    lines): syntax, and, given the model, that every name is one of its settings and every
    ``choice`` value keeps the setting's rule."""
    from recbole_ext.runner import known_settings
    from recbole_ext.settings import did_you_mean

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"params file not found: {path}")
    known = known_settings(model, dataset, config_files) if model is not None else None
    for number, line, fields in params_file_lines(file):
        where = f"{path}:{number}"
        if fields is None:
            raise UsageError(f"{where}: expected 'name type values', got '{line.strip()}'")
        name, kind, value = fields
        if known is not None and name not in known:
            raise UsageError(f"{where}: '{name}' is not a setting of {model}{did_you_mean(name, known)}")
        if kind not in _PARAM_TYPES:
            raise UsageError(f"{where}: unknown type '{kind}' for '{name}'; valid: {', '.join(_PARAM_TYPES)}")
        if kind == "choice":
            _check_choices(where, name, value)
            continue
        bounds = value.split(",")
        try:
            floats = [float(b) for b in bounds]
        except ValueError:
            floats = []
        if len(floats) != _PARAM_TYPES[kind] or floats[0] > floats[1]:
            raise UsageError(
                f"{where}: {kind} for '{name}' needs {_PARAM_TYPES[kind]} comma-separated numbers low<=high"
            )


def _as_recbole_reads(value):
    """A value as RecBole's Config turns it into a setting: a string holding a literal is evaluated."""
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def _check_choices(where, name, value):
    from recbole_ext.settings import check_value

    try:
        values = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise UsageError(f"{where}: choice values for '{name}' must be a Python list literal") from None
    if not isinstance(values, list) or not values:
        raise UsageError(f"{where}: choice values for '{name}' must be a non-empty list")
    for choice in values:
        problem = check_value(name, _as_recbole_reads(choice))
        if problem:
            raise UsageError(f"{where}: choice {choice!r} for '{name}' {problem}")


def check_overrides(models, dataset, config_files, overrides):
    """Every ``--key`` must be a setting RecBole or one of the models knows."""
    from recbole_ext.runner import known_settings

    known = set().union(*(known_settings(model, dataset, config_files) for model in models))
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known) + list(_CLI_OPTIONS), n=3)
            hint = f"; did you mean {', '.join('--' + c for c in close)}?" if close else ""
            raise UsageError(f"unknown option --{key} for model {', '.join(models)}{hint}")


def split_list(value):
    return [item for item in value.replace(",", " ").split() if item]


def _run_single(model, dataset, config_files, overrides, resume=None):
    from recbole_ext.runner import run

    if resume is not None and not Path(resume).is_file():
        raise UsageError(f"--resume: no file {resume}")
    result = run(model, dataset, config_files, overrides, resume=resume)
    print(f"test result ({model} on {dataset}): {dict(result['test_result'])}")


def _non_negative_int(options, key, default):
    try:
        value = int(options.get(key, default))
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"--{key} must be a non-negative integer, got '{options[key]}'")
    return value


def _check_tuning_options(options):
    if "tool" in options and "params_file" not in options:
        raise UsageError("--tool applies to HyperTuning (--params_file=FILE)")
    for key in ("ray_address", "cpus_per_trial"):
        if key in options and options.get("tool", "").lower() != "ray":
            raise UsageError(f"--{key} applies to HyperTuning with --tool=ray")


def _distributed_settings(model, options):
    """run.py's data-parallel options, checked; ``None`` for a single-process run."""
    if not any(key in options for key in _DISTRIBUTED_OPTIONS):
        return None
    from recbole_ext.distributed import supports_data_parallel

    if "params_file" in options:
        raise UsageError("--nproc, --world_size, --ip, --port and --group_offset apply to a single training run")
    nproc = positive_int(options, "nproc", 1)
    world_size = positive_int(options, "world_size", nproc)
    offset = _non_negative_int(options, "group_offset", 0)
    if offset + nproc > world_size:
        raise UsageError(f"--group_offset ({offset}) + --nproc ({nproc}) exceeds --world_size ({world_size})")
    port = options.get("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"--port must be a port number, got '{port}'")
    if world_size > nproc and port is None:
        raise UsageError("--port is needed when ranks run on several machines (--world_size > --nproc)")
    if not supports_data_parallel(model):
        raise UsageError(f"{model} is fitted without gradient steps: --nproc/--world_size do not apply to it")
    return {"nproc": nproc, "world_size": world_size, "ip": options.get("ip", "localhost"), "port": port,
            "group_offset": offset}


def _run_data_parallel(model, dataset, config_files, overrides, settings):
    from recbole_ext.distributed import run_data_parallel

    result = run_data_parallel(model, dataset, config_files, overrides, **settings)
    print(f"test result ({model} on {dataset}, {settings['world_size']} ranks): {result['test_result']}")


def _tune_with_ray(model, dataset, config_files, overrides, options, search):
    from recbole_ext.ray_tuning import RAY_ALGOS, tune_with_ray
    from recbole_ext.runner import build_config

    if search["algo"] not in RAY_ALGOS:
        raise UsageError(f"--tool=ray runs --algo={' or --algo='.join(RAY_ALGOS)}, not '{search['algo']}'")
    bigger = build_config(model, dataset, config_files, overrides)["valid_metric_bigger"]
    return tune_with_ray(
        model,
        dataset,
        config_files,
        overrides,
        **search,
        valid_score_bigger=bigger,
        address=options.get("ray_address"),
        cpus_per_trial=positive_int(options, "cpus_per_trial", 1),
    )


def _run_hyper(model, dataset, config_files, overrides, options):
    from recbole_ext.runner import tune

    algo = options.get("algo", "exhaustive")
    if algo not in _ALGOS:
        raise UsageError(f"unknown --algo '{algo}'; valid choices: {', '.join(_ALGOS)}")
    check_params_file(options["params_file"], model, dataset, config_files)
    output = options.get("output_file") or f"hyper_results/{model}_{dataset}.result"
    tool = options.get("tool", "hyperopt").lower()
    if tool not in _TOOLS:
        raise UsageError(f"unknown --tool '{options['tool']}'; valid choices: {', '.join(_TOOLS)}")
    search = {
        "params_file": options["params_file"],
        "algo": algo,
        "max_evals": positive_int(options, "max_evals", 100),
        "output_file": output,
    }
    if tool == "ray":
        best = _tune_with_ray(model, dataset, config_files, overrides, options, search)
    else:
        best = tune(
            model, dataset, config_files, overrides, **search, early_stop=positive_int(options, "early_stop", 10)
        )
    print(f"best params: {best['params']}")
    print(f"best valid score: {best['best_valid_score']}")
    print(f"test result: {dict(best['test_result'])}")
    print(f"all trials written to {output}")
    if options.get("best_config"):
        write_best_config(options["best_config"], best["params"], options["params_file"], best["best_valid_score"])
        print(f"best settings written to {options['best_config']}")


def write_best_config(path, params, params_file, score):
    """The winning HyperTuning point as a RecBole yaml config file."""
    import yaml

    values = {key: _yaml_value(value) for key, value in params.items()}
    header = f"# Best point of HyperTuning over {params_file} (best valid score {score}).\n"
    write_text_atomically(path, header + yaml.safe_dump(values, default_flow_style=None, sort_keys=True))


def _yaml_value(value):
    """HyperTuning hands back numpy scalars and list choices as strings ('[64]')."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str) and value[:1] in "[{":
        return ast.literal_eval(value)
    return value


def positive_int(options, key, default):
    try:
        value = int(options.get(key, default))
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"--{key} must be a positive integer, got '{options[key]}'")
    return value


def _exit_code(error):
    """The exit status of a user's error (its ``exit_code``; settings 2, other bad data 1), None otherwise."""
    code = getattr(error, "exit_code", None)
    if code is not None:
        return code
    if isinstance(error, SettingsError):
        return 2
    if isinstance(error, (ValueError, OSError, NaNLossError)):
        return 1
    return None


def _message(error):
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return (f"'{os.path.normpath(error.filename)}' is a file where a folder must go (RecBole writes its log/ "
                "and saved/ folders in the working folder): move it away")
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def run_main(command):
    """Run ``command()``; a user's error ends as one line on stderr and a non-zero exit.

    Exit 2: the request is wrong (a bad command line, setting or id). Exit 1:
    the data or a file is (a missing field, a malformed file, a NaN loss).
    ``RECBOLE_EXT_DEBUG=1`` shows the traceback instead.
    """
    # RecBole's Config also reads sys.argv; everything it needs is passed explicitly.
    sys.argv = sys.argv[:1]
    try:
        return command() or 0
    except Exception as error:
        code = _exit_code(error)
        if code is None or os.environ.get("RECBOLE_EXT_DEBUG"):
            raise
        print(f"error: {_message(error)}", file=sys.stderr)
        return code


def _main(argv):
    options, overrides = parse_args(argv)
    if recommend_cli.is_command(options):
        return recommend_cli.run_command(options, overrides)
    if "benchmark" in options:
        raise UsageError("--benchmark is the lab's command: run it as python run.py --benchmark ... from the repository")
    dataset = options.get("dataset", "ml-100k")
    config_files = split_list(options.get("config_files", ""))
    check_config_files(config_files)
    check_dataset(dataset, overrides, config_files)
    if "model" not in options:
        raise UsageError("missing --model=NAME")
    model = options["model"]
    check_model(model)
    check_overrides([model], dataset, config_files, overrides)
    _check_tuning_options(options)
    distributed = _distributed_settings(model, options)
    if "resume" in options and (distributed is not None or "params_file" in options):
        raise UsageError("--resume continues a single training run (not --params_file or --nproc)")
    if distributed is not None:
        _run_data_parallel(model, dataset, config_files, overrides, distributed)
    elif "params_file" in options:
        _run_hyper(model, dataset, config_files, overrides, options)
    else:
        _run_single(model, dataset, config_files, overrides, options.get("resume"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage())
        return 0
    return run_main(lambda: _main(argv))
