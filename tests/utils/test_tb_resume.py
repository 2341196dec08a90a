"""After a resume TensorBoard holds every (tag, step) once: the interrupted attempt's events are dropped."""

from collections import Counter
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from probabilistic.regression.train_bbb import main
from tests.conftest import simulate_crash_in_task_3
from utils.tb_resume import drop_events_after_last_task

TINY = ["--used_task_set=3", "--mlp_arch=5", "--hmlp_arch=5", "--n_iter=60", "--val_iter=20", "--val_sample_size=2",
        "--loglevel_info"]


def tag_steps(summary_dir: Path) -> Counter:
    """(tag, step) of every scalar and image event in the folder's event files."""
    pairs = Counter()
    for path in summary_dir.rglob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if not value.tag.startswith("_hparams_"):
                    pairs[(value.tag, event.step)] += 1
    return pairs


def test_resumed_run_has_each_step_once_and_the_same_steps_as_an_uninterrupted_run(tmp_path):
    main([*TINY, f"--out_dir={tmp_path / 'full'}"])
    main([*TINY, f"--out_dir={tmp_path / 'cut'}"])
    simulate_crash_in_task_3(tmp_path / "cut")
    main([*TINY, f"--out_dir={tmp_path / 'cut'}"])
    full, resumed = tag_steps(tmp_path / "full" / "summary"), tag_steps(tmp_path / "cut" / "summary")
    assert max(resumed.values()) == 1 and set(resumed) == set(full)
    assert any(tag.startswith("train/task_2/") for tag, _ in resumed)  # task 3 was trained (again) and logged


def test_without_task_checkpoints_every_old_event_goes(tmp_path):
    main([*TINY, "--n_iter=4", "--val_iter=4", f"--out_dir={tmp_path}"])
    for f in (tmp_path / "checkpoints").glob("task_*"):
        f.unlink()
    assert drop_events_after_last_task(tmp_path, tmp_path / "summary") > 0
    assert not list((tmp_path / "summary").rglob("events.out.tfevents.*"))
