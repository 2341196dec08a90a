"""The README's sweep commands name a grid module and a seed script that exist, with flags the tools accept."""

import re
import shlex
from pathlib import Path

from hpsearch.gather_seeds import build_parser as gather_parser
from hpsearch.grid_module import load_grid_module
from hpsearch.hpsearch import build_parser as search_parser

REPO = Path(__file__).resolve().parents[2]


def test_readme_sweep_block():
    block = next(b for b in re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
                 if "-m hpsearch" in b)
    lines = block.strip().splitlines()
    folder = REPO / lines[0].split()[1]
    search = search_parser().parse_args(shlex.split(lines[1])[3:])
    module = load_grid_module(search.grid_module)
    assert module.script_path(folder).name == "train_bbb.py" and search.visible_gpus == "-1"
    gather = shlex.split(lines[2].replace("<a finished run or search folder>", "RUN"))
    assert (folder / gather[1]).is_file()
    assert gather_parser().parse_args(gather[2:]).num_seeds == 10
