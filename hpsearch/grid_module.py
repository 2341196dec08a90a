"""The grid-module contract of the originals' ``hpsearch_config_*.py`` files, read into one object.

A grid module is a plain Python module with these attributes (see ``hpsearch/hpsearch_config_template.py``):

============================= =======================================================================================
``grid``                      flag -> list of values to try
``conditions``                list of ``(if_dict, then_dict)`` pairs (see :mod:`hpsearch.grid`)
``_SCRIPT_NAME``              the training script, relative to ``--run_cwd`` (or to the module's folder)
``_SUMMARY_FILENAME``         the summary file every run writes (``performance_overview.txt``)
``_SUMMARY_KEYWORDS``         its keys in file order; must contain ``finished``
``_OUT_ARG``                  the flag naming a run's output folder (default ``out_dir``)
``_SUMMARY_PARSER_HANDLE``    ``f(out_dir, run_index) -> dict`` replacing the default parser, or ``None``
``_PERFORMANCE_EVAL_HANDLE``  ``f(summary, criterion) -> bool``: whether post-processing keeps a run
``_PERFORMANCE_KEY``          the key the results table is sorted by (default: the first summary key)
``_PERFORMANCE_SORT_ASC``     sort ascending (losses) or descending (accuracies, the default)
``_ARGPARSE_HANDLE``          ``f(argv) -> Namespace``: the script's own parser (post-processing, seed gathering)
============================= =======================================================================================

A user's own original config module works after changing its imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from hpsearch.summary_parser import normalize_summary, parse_summary


class GridModuleError(ValueError):
    """A grid module cannot be imported or breaks the contract."""


@dataclass
class GridModule:
    """The attributes of one grid module."""

    name: str
    path: Path
    grid: dict
    conditions: list
    script_name: str
    summary_filename: str
    summary_keywords: list[str]
    out_arg: str = "out_dir"
    summary_parser: Callable | None = None
    performance_eval: Callable | None = None
    performance_key: str | None = None
    performance_sort_asc: bool = False
    argparse_handle: Callable | None = None

    def read_summary(self, out_dir: Path, index: int) -> dict:
        """A run's summary: ``_SUMMARY_PARSER_HANDLE(out_dir, index)`` (values made numbers) or the default parser.

        Raises:
            SummaryError: the summary is missing or its keys are out of place.
        """
        if self.summary_parser is not None:
            return normalize_summary(self.summary_parser(str(out_dir), index))
        return parse_summary(Path(out_dir) / self.summary_filename, self.summary_keywords)

    def script_path(self, run_cwd: Path) -> Path:
        """The script: relative to ``run_cwd`` as in the original, else beside the grid module."""
        for base in (run_cwd, self.path.parent):
            candidate = (Path(base) / self.script_name).resolve()
            if candidate.is_file():
                return candidate
        raise GridModuleError(f"{self.name}: script {self.script_name!r} not found in --run_cwd={run_cwd} nor beside "
                              f"{self.path}; pass --run_cwd=<the script's folder>")


def _import(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name).resolve()
        if not path.is_file():
            raise GridModuleError(f"--grid_module: no such file {name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise GridModuleError(f"--grid_module={name} cannot be imported ({e}); give a dotted module name such as "
                              "probabilistic.prob_mnist.hpsearch_config_split_bbb, or a .py path") from None


def load_grid_module(name: str) -> GridModule:
    """Import ``name`` (dotted module name or ``.py`` path) and check the contract."""
    module = _import(name)
    missing = [a for a in ("grid", "conditions", "_SCRIPT_NAME", "_SUMMARY_FILENAME", "_SUMMARY_KEYWORDS")
               if not hasattr(module, a)]
    if missing:
        raise GridModuleError(f"grid module {name} lacks {', '.join(missing)} "
                              "(see hpsearch/hpsearch_config_template.py)")
    keys = list(module._SUMMARY_KEYWORDS)
    if "finished" not in keys:
        raise GridModuleError(f"grid module {name}: _SUMMARY_KEYWORDS must contain 'finished'")
    perf_key = getattr(module, "_PERFORMANCE_KEY", None) or keys[0]
    return GridModule(
        name=name, path=Path(module.__file__).resolve(), grid=dict(module.grid), conditions=list(module.conditions),
        script_name=module._SCRIPT_NAME, summary_filename=module._SUMMARY_FILENAME, summary_keywords=keys,
        out_arg=getattr(module, "_OUT_ARG", "out_dir") or "out_dir",
        summary_parser=getattr(module, "_SUMMARY_PARSER_HANDLE", None),
        performance_eval=getattr(module, "_PERFORMANCE_EVAL_HANDLE", None),
        performance_key=perf_key, performance_sort_asc=bool(getattr(module, "_PERFORMANCE_SORT_ASC", False)),
        argparse_handle=getattr(module, "_ARGPARSE_HANDLE", None),
    )
