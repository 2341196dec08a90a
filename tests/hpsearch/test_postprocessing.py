"""Post-processing sorts a search's runs into finished / unfinished / missing and sets poor runs aside."""

import json
import pickle
import shutil

from hpsearch.hpsearch import main as hpsearch_main
from hpsearch.postprocessing import main
from hpsearch.search_state import read_results
from tests.hpsearch.test_local_search import write_grid_module


def test_postprocessing_classifies_tabulates_and_moves(tmp_path, monkeypatch):
    module = write_grid_module(tmp_path, {"lr": [0.1, 0.2, 0.3], "crash": [False]},
                               [({"lr": [0.2]}, {"crash": [True]})])
    search = hpsearch_main([f"--grid_module={module}", f"--out_dir={tmp_path / 's'}", "--force_out_dir",
                            "--visible_gpus=-1", "--deterministic_search"])
    runs = sorted(search.glob("sim_*"))  # lr 0.1, 0.3, then 0.2 (the condition moved it last; it crashes)
    shutil.rmtree(runs[0])  # lr 0.1: a run whose folder vanished
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"job_{runs[1].name}.out").write_text("log")  # a scheduler log left in the working directory
    groups = main([str(search), "--performance_criteria=4.5"])  # keeps score > 4.5: lr 0.3 (5), not lr 0.2 (4)
    assert [len(groups[g]) for g in ("finished", "unfinished", "missing")] == [1, 1, 1]
    rows = read_results(search / "postprocessing_results.csv")
    assert [r["lr"] for r in rows] == ["0.3", "0.2"] and [r["finished"] for r in rows] == ["1", "0"]
    assert (runs[1] / f"job_{runs[1].name}.out").read_text() == "log"
    assert sorted(p.name for p in (search / "TO_BE_DELETED").iterdir()) == [runs[2].name]
    assert json.loads((search / "postprocessing_missing_jobs.json").read_text())[0]["lr"] == 0.1
    main([str(search)])  # a second pass keeps the first pass's lists under a timestamped name
    assert len(list(search.glob("postprocessing_finished_jobs*.json"))) == 2


def test_original_commands_pickle_is_read_safely(tmp_path):
    module = write_grid_module(tmp_path, {"lr": [0.1]})
    search = hpsearch_main([f"--grid_module={module}", f"--out_dir={tmp_path / 's'}", "--force_out_dir",
                            "--visible_gpus=-1"])
    commands = json.loads((search / "commands.json").read_text())
    (search / "commands.json").unlink()
    (search / "commands.pickle").write_bytes(pickle.dumps(commands))
    groups = main([str(search), f"--grid_module={module}"])
    assert len(groups["finished"]) == 1
