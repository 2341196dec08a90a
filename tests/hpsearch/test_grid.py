"""Grid expansion (hpsearch/grid.py): products, conditions, duplicates, random picks, command lines (spec §4.2-4.3)."""

import random
import warnings

import pytest

from hpsearch import grid as grid_lib
from hpsearch.base_conditions import BASE_CONDITIONS, BBB_CONDITIONS
from hpsearch.grid import (
    EXTRA_RANDOM_PICKS,
    apply_condition,
    command_argv,
    command_line,
    deduplicate,
    expand_grid,
    full_grid,
    random_picks,
    valid_conditions,
)


def _expand(grid, conditions=(), **kwargs):
    """``expand_grid`` in deterministic order, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return expand_grid(grid, conditions, deterministic=True, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Full product
# ---------------------------------------------------------------------------------------------------------------
def test_full_grid_is_the_product_with_the_last_flag_fastest():
    configs = full_grid({"a": [1, 2], "b": [10, 20, 30]})
    assert len(configs) == 6
    assert configs[:3] == [{"a": 1, "b": 10}, {"a": 1, "b": 20}, {"a": 1, "b": 30}]
    assert configs[3] == {"a": 2, "b": 10}


def test_the_template_docstring_example_gives_four_configurations():
    configs = _expand({"option1": [10], "option2": [0.1, 0.5], "option3": [False, True]})
    assert len(configs) == 4
    assert sorted((c["option2"], c["option3"]) for c in configs) == [(0.1, False), (0.1, True), (0.5, False),
                                                                     (0.5, True)]


@pytest.mark.parametrize("grid", [{}, {"a": [1], "b": []}], ids=["empty grid", "flag without values"])
def test_an_empty_grid_or_value_list_is_an_error(grid):
    with pytest.raises(ValueError):
        expand_grid(grid)


# ---------------------------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------------------------
def test_a_condition_replaces_matching_configs_by_its_product_and_moves_them_last():
    grid = {"opt": ["sgd", "adam"], "lr": [0.1, 0.01]}
    configs = apply_condition(full_grid(grid), {"opt": ["sgd"]}, {"momentum": [0.0, 0.9]})
    # the two adam configurations keep their place in front, the two sgd ones become four at the end
    assert configs[:2] == [{"opt": "adam", "lr": 0.1}, {"opt": "adam", "lr": 0.01}]
    assert configs[2:] == [{"opt": "sgd", "lr": 0.1, "momentum": 0.0}, {"opt": "sgd", "lr": 0.1, "momentum": 0.9},
                           {"opt": "sgd", "lr": 0.01, "momentum": 0.0}, {"opt": "sgd", "lr": 0.01, "momentum": 0.9}]


def test_a_condition_with_several_if_flags_needs_all_of_them():
    configs = apply_condition(full_grid({"a": [0, 1], "b": [0, 1]}), {"a": [1], "b": [1]}, {"c": [5]})
    assert [c.get("c") for c in configs] == [None, None, None, 5]
    assert configs[-1] == {"a": 1, "b": 1, "c": 5}


def test_then_overrides_values_of_flags_in_the_grid():
    configs = _expand({"use_adam": [True, False], "momentum": [0.9]}, [({"use_adam": [True]}, {"momentum": [-1]})])
    assert configs == [{"use_adam": False, "momentum": 0.9}, {"use_adam": True, "momentum": -1}]


def test_conditions_apply_in_order_each_once():
    grid = {"a": [1]}
    conditions = [({"b": [2]}, {"c": [3]}), ({"a": [1]}, {"b": [2]})]
    # the first condition names a flag outside the grid and is dropped; the second adds b=2, and nothing
    # re-checks the first one
    with pytest.warns(UserWarning, match="condition 0 is dropped"):
        configs = expand_grid(grid, conditions, deterministic=True)
    assert configs == [{"a": 1, "b": 2}]
    # a later condition sees the output of an earlier one
    configs = _expand({"a": [1], "b": [0]}, [({"a": [1]}, {"b": [2]}), ({"b": [2]}, {"c": [3]})])
    assert configs == [{"a": 1, "b": 2, "c": 3}]


def test_conditions_on_flags_outside_the_grid_are_dropped_with_a_warning():
    grid = {"use_adam": [True], "beta": [0.01]}
    with pytest.warns(UserWarning) as record:
        kept = valid_conditions(grid, BASE_CONDITIONS)
    # of the base conditions only the two on use_adam name flags of this grid
    assert kept == [c for c in BASE_CONDITIONS if set(c[0]) == {"use_adam"}]
    assert len(kept) == 2
    assert len(record) == len(BASE_CONDITIONS) - 2
    assert all("is dropped" in str(w.message) for w in record)


def test_base_conditions_of_the_spec_on_an_adam_grid():
    """use_adam True -> other optimizers off and momentum -1; use_adam False -> adam_beta1 -1 (spec §4.2)."""
    grid = {"use_adam": [True, False], "momentum": [0.9], "adam_beta1": [0.5]}
    with pytest.warns(UserWarning):
        configs = expand_grid(grid, BASE_CONDITIONS, deterministic=True)
    assert len(configs) == 2
    adam = next(c for c in configs if c["use_adam"])
    sgd = next(c for c in configs if not c["use_adam"])
    assert adam == {"use_adam": True, "momentum": -1, "adam_beta1": 0.5, "use_rmsprop": False,
                    "use_adadelta": False, "use_adagrad": False}
    assert sgd == {"use_adam": False, "momentum": 0.9, "adam_beta1": -1}
    assert command_argv(adam) == ["--use_adam", "--momentum=-1", "--adam_beta1=0.5"]


def test_bbb_conditions_of_the_spec_mean_only_and_lrt():
    """mean_only -> kl 0, mse, no LRT, one sample; LRT on -> disable_lrt_test on (spec §4.2)."""
    grid = {"mean_only": [False, True], "local_reparam_trick": [False, True], "regularizer": ['"w2"']}
    with pytest.warns(UserWarning):
        configs = expand_grid(grid, BBB_CONDITIONS, deterministic=True)
    dirac = [c for c in configs if c["mean_only"]]
    gauss = [c for c in configs if not c["mean_only"]]
    # both mean_only configurations collapse to one after the LRT is switched off
    assert len(dirac) == 1 and len(gauss) == 2 and len(configs) == 3
    assert dirac[0]["kl_scale"] == 0 and dirac[0]["regularizer"] == "mse" and dirac[0]["train_sample_size"] == 1
    assert dirac[0]["local_reparam_trick"] is False and dirac[0]["disable_lrt_test"] is False
    assert {c["local_reparam_trick"]: c["disable_lrt_test"] for c in gauss} == {False: False, True: True}


# ---------------------------------------------------------------------------------------------------------------
# Duplicates, shuffling, truncation, random picks
# ---------------------------------------------------------------------------------------------------------------
def test_deduplicate_keeps_the_first_occurrence_in_order():
    configs = [{"a": 1, "b": [1, 2]}, {"a": 2}, {"b": [1, 2], "a": 1}, {"a": 2}, {"a": 3}]
    assert deduplicate(configs) == [{"a": 1, "b": [1, 2]}, {"a": 2}, {"a": 3}]


def test_duplicates_made_by_conditions_are_removed():
    grid = {"opt": ["adam"], "momentum": [0.0, 0.5, 0.9]}
    configs = _expand(grid, [({"opt": ["adam"]}, {"momentum": [-1]})])
    assert configs == [{"opt": "adam", "momentum": -1}]


def test_shuffling_is_a_seeded_permutation_and_truncation_keeps_the_first():
    grid = {"a": list(range(6)), "b": [0, 1]}
    ordered = _expand(grid)
    shuffled = expand_grid(grid, rng=random.Random(3))
    assert len(shuffled) == 12 and shuffled != ordered
    assert sorted(shuffled, key=lambda c: (c["a"], c["b"])) == ordered
    assert expand_grid(grid, rng=random.Random(3)) == shuffled  # same seed, same order
    assert expand_grid(grid, rng=random.Random(3), num_searches=5) == shuffled[:5]
    assert _expand(grid, num_searches=4) == ordered[:4]


def test_random_picks_draw_num_searches_plus_300_before_the_conditions(monkeypatch):
    drawn = []

    def spy(grid, num, rng):
        drawn.append(num)
        return random_picks(grid, num, rng)

    monkeypatch.setattr(grid_lib, "random_picks", spy)
    grid = {"a": list(range(1000)), "b": list(range(1000))}
    configs = expand_grid(grid, generate_full_grid=False, num_searches=7, deterministic=True,
                          rng=random.Random(0))
    assert EXTRA_RANDOM_PICKS == 300
    assert drawn == [7 + 300]
    assert len(configs) == 7
    assert all(c["a"] in grid["a"] and c["b"] in grid["b"] for c in configs)


def test_random_picks_are_seeded_and_cover_the_values():
    grid = {"a": [1, 2, 3], "b": ["x", "y"]}
    picks = random_picks(grid, 400, random.Random(1))
    assert picks == random_picks(grid, 400, random.Random(1))
    assert len(picks) == 400
    assert {c["a"] for c in picks} == {1, 2, 3} and {c["b"] for c in picks} == {"x", "y"}
    # only the 6 distinct combinations survive the duplicate removal
    assert len(expand_grid(grid, generate_full_grid=False, num_searches=10, rng=random.Random(1))) == 6


def test_random_picks_need_num_searches():
    with pytest.raises(ValueError, match="num_searches"):
        expand_grid({"a": [1]}, generate_full_grid=False)


# ---------------------------------------------------------------------------------------------------------------
# Command lines
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, argv", [
    ({"flag": True}, ["--flag"]),
    ({"flag": False}, []),
    ({"lr": 0.001}, ["--lr=0.001"]),
    ({"n_iter": -1}, ["--n_iter=-1"]),
    ({"mlp_arch": '"10,10"'}, ["--mlp_arch=10,10"]),
    ({"name": '"two words"'}, ["--name=two words"]),
    ({"hnet_type": "hmlp", "use_adam": True, "radial_bnn": False, "beta": 0.01},
     ["--hnet_type=hmlp", "--use_adam", "--beta=0.01"]),
], ids=["true flag", "false flag", "float", "negative int", "quoted list", "quoted words", "mixed"])
def test_command_argv(config, argv):
    assert command_argv(config) == argv


def test_command_line_keeps_the_quotes_for_the_shell():
    config = {"mlp_arch": '"10,10"', "use_adam": True, "mean_only": False}
    assert command_line("train_split_bbb.py", config) == 'python3 train_split_bbb.py --mlp_arch="10,10" --use_adam'
    assert command_line("train.py", {"flag": False}) == "python3 train.py"
