"""Strict settings: every key is known, every value has the declared type and range.

Declared once, beside the defaults: each line of a yaml defaults file reads
``key: default  # (RULE) description``, where RULE is a type (``int``,
``float``, ``bool``, ``str``, ``list``, ``dict``, ``list of int``, ``None``,
alternatives joined by ``or``) followed by optional constraints after commas
(``>= 1``, ``> 0``, ``< 1``, ``one of full|simplified``). The plugin's yaml
(``recbole_ext/properties``) declares types and ranges of its keys; RecBole's
own yaml declares the types of its keys; ``recbole_ext/properties/recbole_rules.yaml``
adds the ranges of RecBole's core keys (epochs, learning rate, batch sizes,
history length, dropout, ...), which RecBole's files do not state.

:func:`check_config` runs on every ``Config`` (the registry calls it), before
any data is loaded: a setting given in a config file or config dict that neither
RecBole nor any registered model knows (a shared config file may carry the
keys of several models), or a value off its rule, raises
:class:`SettingsError` with one line (a did-you-mean for unknown keys).
"""

import difflib
import functools
import re
from pathlib import Path

import yaml

_RULE = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*:[^#]*#\s*\((?P<rule>[^)]*)\)")
_COMPARISON = re.compile(r"^(>=|>|<=|<)\s*(-?[\d.e+-]+)$")
#: keys RecBole sets or reads at run time that no yaml declares
_RUNTIME_KEYS = {
    "model", "dataset", "config_file", "config_files", "device", "single_spec", "local_rank", "nproc", "world_size",
    "offset", "ip", "port", "benchmark_filename", "additional_feat_suffix", "MODEL_TYPE", "MODEL_INPUT_TYPE",
    "eval_type", "valid_neg_sample_args", "test_neg_sample_args", "train_neg_sample_args",
}


class SettingsError(ValueError):
    """A setting nobody knows, a value off its rule, or a config file that is not valid yaml."""


class Rule:
    """The allowed types and constraints of one setting."""

    _TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}

    def __init__(self, text):
        self.text = text.strip()
        kind, *constraints = [part.strip() for part in self.text.split(",")]
        self.alternatives = [alternative.strip() for alternative in kind.split(" or ")]
        self.comparisons, self.choices = [], None
        for constraint in constraints:
            match = _COMPARISON.match(constraint)
            if match:
                self.comparisons.append((match.group(1), float(match.group(2))))
            elif constraint.startswith("one of "):
                self.choices = [choice.strip() for choice in constraint[len("one of "):].split("|")]

    def merged_with(self, other):
        """Either rule's types; the constraints of whichever states them (``other`` first)."""
        merged = Rule(self.text)
        merged.alternatives = list(dict.fromkeys(self.alternatives + other.alternatives))
        merged.comparisons = other.comparisons or self.comparisons
        merged.choices = other.choices if other.choices is not None else self.choices
        return merged

    def _type_ok(self, value, alternative):
        if alternative == "None":
            return value is None
        if alternative.startswith("list of "):
            inner = Rule(alternative[len("list of "):])
            return isinstance(value, list) and all(inner._type_ok(item, inner.alternatives[0]) for item in value)
        expected = self._TYPES.get(alternative)
        if expected is None:
            return True  # a type word this checker does not know: not checked
        if expected is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if expected is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, expected)

    def problem(self, value, default_is_none=False):
        """Why ``value`` breaks the rule, or None."""
        if value is None and (default_is_none or "None" in self.alternatives):
            return None
        if not any(self._type_ok(value, alternative) for alternative in self.alternatives):
            return f"must be {' or '.join(self.alternatives)}"
        if self.choices is not None and str(value) not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        for operator, bound in self.comparisons:
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if number is not None and not _compare(number, operator, bound):
                return f"must be {operator} {bound:g}"
        return None


def _compare(number, operator, bound):
    return {">=": number >= bound, ">": number > bound, "<=": number <= bound, "<": number < bound}[operator]


def _yaml_files():
    """Every yaml of defaults: RecBole's, the plugin's, and the registered models' own files."""
    import recbole

    from recbole_ext import registry

    recbole_properties = Path(recbole.__file__).parent / "properties"
    files = sorted(recbole_properties.rglob("*.yaml"))
    files += sorted(registry.PROPERTIES_DIR.rglob("*.yaml"))
    files += [registry.model_yaml(name) for name in registry.plugin_model_names()]
    return [path for path in dict.fromkeys(files) if path.is_file()]


def _rule_lines(text):
    for line in text.splitlines():
        match = _RULE.match(line)
        if match:
            yield match.group("key"), Rule(match.group("rule"))


@functools.lru_cache(maxsize=None)
def _declared(files):
    """Keys, merged rules and None defaults of the yaml ``files``.

    A key's types are every type any file declares for it (models share key
    names); its constraints come from the file that states them.
    """
    import recbole

    recbole_root = Path(recbole.__file__).parent
    keys, rules, nullable = set(), {}, set()
    strict = set()  # keys of the plugin's own settings files: None only where the default is None or the rule says so
    for path in files:
        text = Path(path).read_text(encoding="utf-8")
        content = yaml.safe_load(text) or {}
        if path.name == "recbole_rules.yaml":
            declared_rules = [(key, Rule(rule)) for key, rule in content.items()]
        else:
            keys |= set(content)
            nullable |= {key for key, value in content.items() if value is None}
            declared_rules = list(_rule_lines(text))
        if recbole_root not in Path(path).parents and Path(path).parent.name != "dataset":
            strict |= {key for key, _ in declared_rules}
        for key, rule in declared_rules:
            rules[key] = rules[key].merged_with(rule) if key in rules else rule
    # RecBole's files say "(str)" for fields that may be None (RATING_FIELD: ~ disables it) and the like
    nullable |= set(rules) - strict
    return keys, rules, nullable


def declared():
    """``(known keys, {key: Rule}, keys that may be None)`` over every yaml of defaults."""
    from recbole.utils import argument_list

    keys, rules, none_defaults = _declared(tuple(_yaml_files()))
    arguments = (argument_list.general_arguments + argument_list.training_arguments
                 + argument_list.evaluation_arguments + argument_list.dataset_arguments)
    return keys | set(arguments) | _RUNTIME_KEYS, rules, none_defaults


def did_you_mean(key, candidates):
    close = difflib.get_close_matches(key, sorted(candidates), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def check_yaml_file(path):
    """A config file that yaml cannot read: one line with its file, line and column."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SettingsError(f"{where}: not valid yaml: {problem}") from None
    if content is not None and not isinstance(content, dict):
        raise SettingsError(f"{path}: a config file holds 'key: value' lines, got {type(content).__name__}")


def _source(config, key):
    if key in config.cmd_config_dict:
        return "the command line"
    if key in config.variable_config_dict:
        return "the config dict"
    if key in config.file_config_dict:
        return "a config file"
    return "the defaults"


def check_config(config):
    """Raise :class:`SettingsError` for an unknown external key or a value off its rule."""
    keys, rules, none_defaults = declared()
    # the process's own command line is not checked here: RecBole reads sys.argv too, which may belong to
    # another program (a Ray worker, pytest); run.py passes its settings as a config dict and checks its options
    for key in {**config.file_config_dict, **config.variable_config_dict}:
        if key not in keys:
            raise SettingsError(
                f"unknown setting '{key}' (from {_source(config, key)}): neither RecBole nor any registered model "
                f"has it{did_you_mean(key, keys)}"
            )
    for key, rule in rules.items():
        if key not in config.final_config_dict:
            continue
        value = config.final_config_dict[key]
        problem = rule.problem(value, default_is_none=key in none_defaults)
        if problem:
            raise SettingsError(f"setting {key}={value!r} (from {_source(config, key)}) {problem}")


def check_value(key, value):
    """The rule's complaint about ``value`` for ``key`` (a HyperTuning choice, say), or None."""
    _, rules, none_defaults = declared()
    rule = rules.get(key)
    return None if rule is None else rule.problem(value, default_is_none=key in none_defaults)
