"""A throw-away one-node Slurm cluster for the Slurm backend's end-to-end tests.

:func:`slurm_cluster` writes a ``slurm.conf`` for one node (``localhost``) into a temporary folder, starts
``munged`` with a freshly generated key, ``slurmctld`` and ``slurmd`` as the current (root) user, waits until
``sinfo`` reports the node idle, points ``SLURM_CONF`` at the file for the test, and stops everything afterwards.
No cgroups, no accounting database: finished jobs are counted from the job-completion text file
(``jobcomp/filetxt``). The same config works for trying the backend by hand (``docs/hpsearch_clusters.rst``).

It skips (with the reason) only where the Slurm or munge binaries are absent, e.g. when ``.ci/run`` could not
install ``slurm-wlm``; any other failure to start the cluster is an error that shows the daemons' logs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")
#: Daemons live in sbin, which a non-root PATH often lacks.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
#: How long the daemons may take to come up (they usually need 2-5 s).
STARTUP_TIMEOUT_S = 60


@dataclass
class SlurmCluster:
    """A running one-node cluster."""

    root: Path  # holds slurm.conf, the state folders and the daemons' logs
    conf: Path  # the slurm.conf (exported as SLURM_CONF while the fixture is active)
    jobcomp: Path  # one line per finished job (jobcomp/filetxt)

    def finished_jobs(self) -> list[dict[str, str]]:
        """The job-completion records so far, one ``key -> value`` dict per finished job (array task)."""
        if not self.jobcomp.exists():
            return []
        return [dict(field.split("=", 1) for field in line.split() if "=" in field)
                for line in self.jobcomp.read_text().splitlines() if line.strip()]

    def finished_array_tasks(self, array_id: str, expected: int, timeout: float = 20.0) -> list[dict[str, str]]:
        """The completion records of one job array's tasks, waiting up to ``timeout`` s for ``expected`` of them
        (slurmctld logs a completion shortly after the job's processes have ended)."""
        deadline = time.monotonic() + timeout
        while True:
            records = [r for r in self.finished_jobs() if r.get("ArrayJobId") == array_id]
            if len(records) >= expected or time.monotonic() > deadline:
                return records
            time.sleep(0.2)

    def logs(self) -> str:
        """The daemons' log files, for error messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.root.glob("*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurm_conf(root: Path, cpus: int, user: str) -> str:
    """One node, one partition, everything in ``root``; plugins that need neither cgroups nor a database."""
    return f"""\
ClusterName=hypercltest
SlurmctldHost=localhost
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root / "munge.socket"}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root / "jobcomp.txt"}
SwitchType=switch/none
MpiDefault=none
# share the node's CPUs between jobs (one CPU per array task) instead of giving each job the whole node
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# react fast: short kill grace, finished jobs leave squeue soon
KillWait=5
MinJobAge=60
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _start_munge(root: Path, munged: str) -> subprocess.Popen:
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    # --force: munged refuses root-owned test folders under /tmp otherwise
    return subprocess.Popen([munged, "--foreground", "--force", f"--socket={root / 'munge.socket'}",
                             f"--key-file={key}", f"--pid-file={root / 'munged.pid'}",
                             f"--log-file={root / 'munged.log'}", f"--seed-file={root / 'munged.seed'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until(predicate, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} within {timeout} s; logs:\n{cluster.logs()}")


def _node_idle(env: dict[str, str]) -> bool:
    out = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() == "idle"


def _stop(procs: list[subprocess.Popen], root: Path) -> None:
    """Stop the daemons (and the job processes they may have left behind)."""
    for proc in reversed(procs):  # slurmd first, munged last
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # each daemon runs in its own session
            proc.wait()
    # job steps run under slurmstepd, outside the daemons' sessions: kill what still uses our spool folder
    for stepd in _processes_mentioning(str(root)):
        try:
            os.kill(stepd, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _processes_mentioning(text: str) -> list[int]:
    """Ids of processes whose command line or environment names ``text`` (our SLURM_CONF / folders)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A one-node Slurm cluster for this test session; ``SLURM_CONF`` points at it while it runs."""
    binaries = {b: shutil.which(b, path=SEARCH_PATH) for b in SLURM_BINARIES}
    missing = [b for b, path in binaries.items() if path is None]
    if missing:
        pytest.skip(f"Slurm is not installed here (missing {', '.join(missing)}); "
                    f"`apt-get install slurm-wlm munge` enables this test (.ci/run does so)")
    # short root: munge's socket path must fit into a unix socket address (108 bytes)
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    cluster = SlurmCluster(root=root, conf=root / "slurm.conf", jobcomp=root / "jobcomp.txt")
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    cluster.conf.write_text(_slurm_conf(root, os.cpu_count() or 1, user))
    env = {**os.environ, "SLURM_CONF": str(cluster.conf)}

    procs = [_start_munge(root, binaries["munged"])]
    try:
        _wait_until(lambda: (root / "munge.socket").exists(), STARTUP_TIMEOUT_S, "munged did not start", cluster)
        # -D: stay in the foreground so that we own the process; -i: ignore state left by an earlier session
        procs.append(subprocess.Popen([binaries["slurmctld"], "-D", "-i", "-f", str(cluster.conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True))
        procs.append(subprocess.Popen([binaries["slurmd"], "-D", "-N", "localhost", "-f", str(cluster.conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True))
        _wait_until(lambda: _node_idle(env), STARTUP_TIMEOUT_S, "the Slurm node did not become idle", cluster)
    except BaseException:
        _stop(procs, root)
        raise

    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        _stop(procs, root)
