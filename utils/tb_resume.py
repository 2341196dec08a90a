"""TensorBoard after a resume: events of the interrupted attempt are dropped, so no step appears twice.

A run resumes after its last finished task, whose checkpoint (``checkpoints/task_<t>.*``) is written after the task's
training curves and test results. Every event written after the newest such checkpoint belongs to the attempt that
was interrupted, and its task is trained again from its first iteration. :func:`drop_events_after_last_task`
rewrites the run's event files keeping only the older events (a run without task checkpoints starts over, so all
of them go). TensorBoard's ``purge_step`` cannot do this: the steps of ``train/task_<t>/*`` restart at 0 in every
task, so purging by step would also drop the finished tasks' curves.
"""

from __future__ import annotations

from pathlib import Path

EVENT_GLOB = "events.out.tfevents.*"


def last_task_checkpoint_time(out_dir: Path) -> float | None:
    """Modification time (s) of the newest ``checkpoints/task_*`` file, or ``None`` if there is none."""
    times = [p.stat().st_mtime for p in (out_dir / "checkpoints").glob("task_*")]
    return max(times) if times else None


def drop_events_after_last_task(out_dir: Path, summary_dir: Path) -> int:
    """Keep only the events written before the newest task checkpoint; returns how many events were dropped."""
    files = sorted(summary_dir.rglob(EVENT_GLOB)) if summary_dir.is_dir() else []
    if not files:
        return 0
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    keep_before = last_task_checkpoint_time(out_dir)
    dropped = 0
    for path in files:
        events = list(EventFileLoader(str(path)).Load())
        kept = [e for e in events if keep_before is not None and e.wall_time <= keep_before
                and not e.HasField("file_version")]  # the new file writes its own version header
        dropped += len(events) - len(kept) - sum(e.HasField("file_version") for e in events)
        if kept:
            writer = EventFileWriter(str(path.parent), filename_suffix=".resumed")
            for event in kept:
                writer.add_event(event)
            writer.close()
        path.unlink()
    return dropped
