"""Template of a grid module: copy it beside a training script, then fill in ``grid`` and ``conditions``.

A grid module tells the sweep driver (``python -m hpsearch --grid_module=<dotted.name>``) what to run and how to
read the results. It is a plain Python module; the driver reads these attributes:

``grid``
    flag name -> list of values. The driver runs every combination (or random picks with
    ``--dont_generate_full_grid``). A flag left out keeps the script's default. Values are written as
    ``--flag=<value>`` into a shell line, with two exceptions and one rule:

    * ``True`` adds the bare ``--flag``, ``False`` leaves it out, so ``[False, True]`` tries both;
    * never put the output folder (``_OUT_ARG``) into the grid, the driver assigns one per run;
    * a string value that the shell must see as one word keeps its own quotes: ``'"10,10"'`` becomes
      ``--mlp_arch="10,10"``.

``conditions``
    a list of ``(if_dict, then_dict)`` pairs in the format of ``grid``. Every configuration whose values all lie
    in the ``if`` lists is replaced by its combinations with the ``then`` lists (a ``then`` flag that the
    configuration lacks is added). Conditions apply in their order, each once, to the output of the previous one;
    nothing re-checks an earlier condition. A condition whose ``if`` flags are not all in ``grid`` is dropped with
    a warning. The papers' shared lists (``BASE_CONDITIONS`` etc. in :mod:`hpsearch.base_conditions` and
    :mod:`hpsearch.base_conditions_rnn`) are appended after a module's own conditions.

``_SCRIPT_NAME``
    the training script, a file name relative to the driver's ``--run_cwd`` (usually the module's own folder).

``_SUMMARY_FILENAME``
    the file each run writes into its output folder, one ``key value`` line per summary key
    (``performance_overview.txt``).

``_SUMMARY_KEYWORDS``
    the keys of that file in file order (the default parser checks line ``k`` against key ``k``); must contain
    ``finished``, which the script sets to 1 at its very end. Take the list from the runner's own key module so that
    the two cannot drift apart.

``_OUT_ARG``
    the flag naming a run's output folder (``out_dir``).

``_SUMMARY_PARSER_HANDLE``
    ``None`` for the default parser, or ``f(out_dir, run_index) -> dict`` for a custom summary format.

``_PERFORMANCE_EVAL_HANDLE``
    ``f(summary_dict, performance_criteria) -> bool``: whether post-processing keeps a run
    (:func:`hpsearch.base_conditions.keep_if_above` / ``keep_if_below`` build one for a key).

``_PERFORMANCE_KEY`` and ``_PERFORMANCE_SORT_ASC``
    the summary key the results table is sorted by (``None``: the first key), ascending for losses and descending
    for accuracies.

``_ARGPARSE_HANDLE``
    ``f(argv) -> argparse.Namespace``, the script's own parser (post-processing matches commands to run folders
    with it, seed gathering re-parses the reference run), e.g. ``functools.partial(parse_args, "split_mnist_bbb")``.

The ``hpsearch_config_*.py`` modules beside the papers' launchers are complete examples; a config written for the
original code works after its imports are changed to ours.
"""

grid = {
    "lr": [0.001, 0.0005],  # a float flag: two values
    "use_adam": [False, True],  # a store_true flag: off and on
    "mlp_arch": ['"100,100"'],  # a string: keeps its inner quotes for the shell
    # more flags: `python3 <script> --help`
}

conditions = [
    # momentum means nothing to Adam: run Adam configurations once, with the flag at its "off" value
    ({"use_adam": [True]}, {"momentum": [-1]}),
]

_SCRIPT_NAME = "train.py"
_SUMMARY_FILENAME = "performance_overview.txt"
_SUMMARY_KEYWORDS = ["acc_avg_final", "finished"]
_OUT_ARG = "out_dir"
_SUMMARY_PARSER_HANDLE = None
_PERFORMANCE_EVAL_HANDLE = None
_PERFORMANCE_KEY = "acc_avg_final"
_PERFORMANCE_SORT_ASC = False
_ARGPARSE_HANDLE = None
