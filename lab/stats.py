"""Summary statistics shared by every table of the lab: one convention (sample standard deviation, ddof=1)."""

import statistics


def mean_std(values, digits=4):
    """``mean ± sample std`` (ddof=1) of ``values``; the single value when there is one."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def std(values):
    """Sample standard deviation (ddof=1); 0 for fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def paired_difference(values, reference):
    """``values[s] - reference[s]`` over the seeds ``s`` both have (dicts seed -> value):
    mean ± standard error, and how many seeds."""
    differences = [values[s] - reference[s] for s in values if s in reference and reference[s] is not None]
    if not differences:
        return "n/a"
    if len(differences) == 1:
        return f"{differences[0]:+.4f} (1 seed)"
    error = statistics.stdev(differences) / len(differences) ** 0.5
    return f"{statistics.mean(differences):+.4f} ± {error:.4f} ({len(differences)} seeds)"
