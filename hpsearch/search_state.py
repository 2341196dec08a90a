"""A search folder's own state and its results table, both rewritten atomically after every finished run.

``hpsearch_state.json`` holds what a restart needs: the grid module, the grid and conditions, every run's flags and
folder, and the summary of each finished run. ``search_results.csv`` (``;``-separated, the original's columns: the
run's flags incl. ``out_dir``, then the summary keys) gets a finished run's row the moment the run ends; at the end
of the search its rows are sorted by the performance key (ties and NaNs: run order), so an interrupted and restarted
search ends with the same table as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hpsearch.summary_parser import Value, csv_cell
from utils.atomic import atomic_write_text

STATE_FILENAME = "hpsearch_state.json"
RESULTS_FILENAME = "search_results.csv"
CSV_SEPARATOR = ";"


@dataclass
class SearchState:
    """Everything a search folder records about itself."""

    grid_module: str
    script: str
    out_arg: str
    summary_keys: list[str]
    performance_key: str
    performance_sort_asc: bool
    grid: dict
    conditions: list
    names: list[str]  # run folder names, in run order
    configs: list[dict]  # each run's flags, incl. the out_dir flag
    results: dict[str, dict[str, Value]] = field(default_factory=dict)  # run index (str) -> summary of finished runs

    # ------------------------------------------------------------------------------------------------------
    @staticmethod
    def path_in(search_dir: Path) -> Path:
        return Path(search_dir) / STATE_FILENAME

    @classmethod
    def load(cls, search_dir: Path) -> SearchState:
        data = json.loads(cls.path_in(search_dir).read_text())
        return cls(**data)

    def save(self, search_dir: Path) -> None:
        atomic_write_text(self.path_in(search_dir), json.dumps(asdict(self), indent=1))

    # ------------------------------------------------------------------------------------------------------
    def is_finished(self, index: int) -> bool:
        return str(index) in self.results

    def unfinished(self) -> list[int]:
        return [i for i in range(len(self.configs)) if not self.is_finished(i)]

    def record(self, search_dir: Path, index: int, summary: dict[str, Value]) -> None:
        """Store a finished run's summary and rewrite state and table (finished runs in completion order)."""
        self.results[str(index)] = summary
        self.save(search_dir)
        self.write_csv(search_dir, order=[int(i) for i in self.results])

    # ------------------------------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Every flag any run has (first-seen order), then the summary keys."""
        flags: dict[str, None] = {}
        for config in self.configs:
            flags.update(dict.fromkeys(config))
        return list(flags) + [k for k in self.summary_keys if k not in flags]

    def sorted_indices(self) -> list[int]:
        """Finished runs sorted by the performance key (NaN or lists last), ties in run order."""

        def key(i: int) -> tuple:
            v = self.results[str(i)].get(self.performance_key, math.nan)
            if isinstance(v, list) or math.isnan(v):
                return (1, 0.0, i)
            return (0, v if self.performance_sort_asc else -v, i)

        return sorted((int(i) for i in self.results), key=key)

    def write_csv(self, search_dir: Path, order: list[int] | None = None, filename: str = RESULTS_FILENAME) -> None:
        """Rewrite the table with the recorded runs in ``order`` (default: sorted by performance)."""
        order = self.sorted_indices() if order is None else order
        columns = self.columns()
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=CSV_SEPARATOR, lineterminator="\n")
        writer.writerow(columns)
        for i in order:
            row = {**{k: _flag_cell(v) for k, v in self.configs[i].items()},
                   **{k: csv_cell(v) for k, v in self.results[str(i)].items()}}
            writer.writerow([row.get(c, "") for c in columns])
        atomic_write_text(Path(search_dir) / filename, buf.getvalue())


def _flag_cell(value: object) -> str:
    """A flag value as the run received it: the shell quotes of grid strings (``'"10,10"'``) removed."""
    try:
        tokens = shlex.split(str(value))
    except ValueError:
        return str(value)
    return tokens[0] if len(tokens) == 1 else str(value)


def read_results(path: Path) -> list[dict[str, str]]:
    """The rows of a ``search_results.csv`` as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=CSV_SEPARATOR))
