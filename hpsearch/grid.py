"""Grid expansion: from a grid module's ``grid`` and ``conditions`` to the list of run configurations (spec §4.3).

A *grid* maps a flag to the list of values to try. A *condition* is a pair ``(if_dict, then_dict)``: every
configuration whose values all lie in the ``if`` lists is replaced by the product of the ``then`` lists (keys of
``then`` that the configuration lacks are added). Conditions apply one after the other, in their order, each to
the result of the previous one; replaced configurations move to the end, as in the original. A condition naming a
flag that is not in the grid is dropped with a warning.

Values follow the original command-line convention: ``True``/``False`` toggle a ``store_true`` flag, anything else is
written as ``--flag=<str(value)>`` into a shell line, so string values that need quoting carry their quotes
(``'"10,10"'``).
"""

from __future__ import annotations

import itertools
import random
import shlex
import warnings
from collections.abc import Mapping, Sequence

Config = dict[str, object]
Condition = tuple[Mapping[str, Sequence], Mapping[str, Sequence]]
#: Random picks beyond ``--num_searches`` with ``--dont_generate_full_grid``, so that conditions may drop some.
EXTRA_RANDOM_PICKS = 300


def full_grid(grid: Mapping[str, Sequence]) -> list[Config]:
    """Every combination, the last flag varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def random_picks(grid: Mapping[str, Sequence], num: int, rng: random.Random) -> list[Config]:
    """``num`` configurations with every value drawn uniformly and independently."""
    return [{k: values[rng.randrange(len(values))] for k, values in grid.items()} for _ in range(num)]


def valid_conditions(grid: Mapping[str, Sequence], conditions: Sequence[Condition]) -> list[Condition]:
    """The conditions whose ``if`` flags are all in the grid; the others are dropped with a warning."""
    kept = []
    for i, (when, then) in enumerate(conditions):
        missing = [k for k in when if k not in grid]
        if missing:
            warnings.warn(f"condition {i} is dropped: its flag(s) {', '.join(missing)} are not in the grid "
                          f"({when!r} -> {then!r})", stacklevel=2)
        else:
            kept.append((when, then))
    return kept


def apply_condition(configs: list[Config], when: Mapping[str, Sequence], then: Mapping[str, Sequence]
                    ) -> list[Config]:
    """Replace every configuration matching ``when`` by its product with ``then`` (replacements go last)."""
    untouched, replaced = [], []
    for config in configs:
        if all(k in config and config[k] in values for k, values in when.items()):
            replaced.extend({**config, **choice} for choice in full_grid(then))
        else:
            untouched.append(config)
    return untouched + replaced


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def deduplicate(configs: list[Config]) -> list[Config]:
    """Drop repeated configurations, keeping the first of each (the original kept an order sorted by hash, which
    changes from one Python process to the next; first-occurrence order makes ``--deterministic_search``
    reproducible)."""
    seen, unique = set(), []
    for config in configs:
        key = frozenset((k, _hashable(v)) for k, v in config.items())
        if key not in seen:
            seen.add(key)
            unique.append(config)
    return unique


def expand_grid(grid: Mapping[str, Sequence], conditions: Sequence[Condition] = (), *, generate_full_grid: bool = True,
                num_searches: int = -1, deterministic: bool = False, rng: random.Random | None = None
                ) -> list[Config]:
    """The configurations a search runs, in run order.

    Full product (or ``num_searches + 300`` random picks) -> conditions in order -> duplicates removed ->
    shuffled unless ``deterministic`` -> the first ``num_searches`` (``-1``: all).
    """
    if not grid:
        raise ValueError("the grid is empty: give at least one flag with one value")
    empty = [k for k, v in grid.items() if len(v) == 0]
    if empty:
        raise ValueError(f"grid flag(s) {', '.join(empty)} have no values")
    rng = rng or random.Random()
    if generate_full_grid:
        configs = full_grid(grid)
    else:
        if num_searches < 1:
            raise ValueError("--dont_generate_full_grid needs --num_searches >= 1")
        configs = random_picks(grid, num_searches + EXTRA_RANDOM_PICKS, rng)
    for when, then in valid_conditions(grid, conditions):
        configs = apply_condition(configs, when, then)
    configs = deduplicate(configs)
    if not deterministic:
        rng.shuffle(configs)
    if num_searches != -1:
        configs = configs[:num_searches]
    return configs


def flag_tokens(config: Mapping[str, object]) -> str:
    """The flags of one configuration as the original writes them: ``--k=v``, bare ``--k`` for True, none for
    False."""
    parts = []
    for k, v in config.items():
        if isinstance(v, bool):
            if v:
                parts.append(f"--{k}")
        else:
            parts.append(f"--{k}={v}")
    return " ".join(parts)


def command_line(script: str, config: Mapping[str, object]) -> str:
    """The shell line of one run, ``python3 <script> --flags`` (``commands.sh``, ``hpsearch_command.sh``)."""
    flags = flag_tokens(config)
    return f"python3 {script} {flags}" if flags else f"python3 {script}"


def command_argv(config: Mapping[str, object]) -> list[str]:
    """The flags of one configuration as an argv list (quotes resolved as the shell would)."""
    return shlex.split(flag_tokens(config))
