"""sweep.py through a real Slurm: the single-node cluster of .ci/slurm-up
(which .ci/run starts). A grid as one job array, --status, an idempotent
rerun; and a run requeued by its time limit, by a signal (scancel
--signal=USR2), by scontrol requeue and by preemption, each ending with the
history.csv of an uninterrupted run. Without that cluster every test here
is skipped, saying why.

The jobs run the real sweep.py, submitted from a scratch folder: they find
this checkout's code through PYTHONPATH, which sbatch passes on."""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from attractors.sweeps import run_state
from conftest import ROOT, load_script

pytestmark = pytest.mark.slurm

TINY = ["--seq_len", "10", "--n_sequences", "4", "--batch_size", "2", "--hidden_size", "4"]
LONG = [*TINY, "--epochs", "400"]          # about 5 s of training, time to interrupt it
# epochs of about 0.4 s: a burst of signals lands inside an epoch
SLOW = ["--seq_len", "1000", "--n_sequences", "100", "--batch_size", "1", "--hidden_size", "32",
        "--epochs", "12"]
WAIT_S = 240


def cluster_problem():
    """Why the tests cannot run here (None when they can)."""
    if not shutil.which("sbatch"):
        return "no Slurm here: sbatch is not on PATH (.ci/slurm-up starts a local cluster)"
    try:
        done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                              timeout=5)
    except subprocess.TimeoutExpired:
        return "Slurm does not answer within 5 s; start the local cluster with .ci/slurm-up"
    if done.returncode != 0:
        return (f"Slurm does not answer ({(done.stderr.strip().splitlines() or ['?'])[-1]}); "
                "start the local cluster with .ci/slurm-up")
    if not re.search(r"^ClusterName\s*=\s*attractors$", done.stdout, re.M):
        return ("this Slurm is not the test cluster of .ci/slurm-up: these tests submit, "
                "requeue and preempt jobs, so they run only there")
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout
    if not re.search(r"idle|mixed|alloc|complet", state):
        return f"the test cluster's node is not up (sinfo: {state.strip()}); run .ci/slurm-up"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scratch folder the sweeps are submitted from; at the end, every
    job they left (a failed test's) is cancelled."""
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)
    folder = tmp_path_factory.mktemp("slurm")
    yield folder
    ids = {r["job"]["id"].split("_")[0] for manifest in folder.glob("*/sweep.json")
           for r in json.loads(manifest.read_text())["runs"].values() if r.get("job")}
    if ids:
        subprocess.run(["scancel", *sorted(ids)], capture_output=True)


def sweep_py(cwd, *args):
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(ROOT / "sweep.py"), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def submit(cwd, out, *args, fixed=LONG):
    done = sweep_py(cwd, "sine-generator", "--executor", "slurm", "--out", out, *args, "--",
                    *fixed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "as Slurm job array" in done.stdout and done.stderr == "", done.stdout + done.stderr
    return json.loads((cwd / out / "sweep.json").read_text())


def job_id(cwd, out, run):
    return json.loads((cwd / out / "sweep.json").read_text())["runs"][run]["job"]["id"]


def diagnosis(folder):
    """What to look at when a run does not get done: its log, its job's
    logs, the queue."""
    parts = [subprocess.run(["squeue"], capture_output=True, text=True).stdout]
    for root, _, files in os.walk(folder):
        for name in files:
            if name in ("train.log", ".sweep-exit") or name.endswith(("_log.err", "_log.out")):
                text = open(os.path.join(root, name), errors="replace").read()
                parts.append(f"--- {os.path.join(root, name)}\n{text[-1500:]}")
    return "\n".join(parts)


def wait_for(condition, folder, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout} s\n{diagnosis(folder)}")


def rows(run):
    try:
        return (run / "history.csv").read_text().count("\n") - 1
    except OSError:
        return 0


def train_py_pid(run):
    """The pid of the run's train.py while it runs (from .sweep-running)."""
    try:
        pids = json.loads((run / ".sweep-running").read_text())["pids"]
    except (OSError, ValueError, KeyError):
        return None
    return pids[-1] if len(pids) > 1 else None


def training(run, at_least):
    """Wait until the run's train.py has written ``at_least`` epochs; its pid."""
    def started():
        pid = train_py_pid(run)
        return pid if pid and rows(run) >= at_least else None
    return wait_for(started, run.parent, f"{run.name} training")


def done(cwd, out, count=1):
    """Wait until the ``count`` runs of the sweep ``out`` are done (looking
    at their folders), then its --status."""
    manifest = json.loads((cwd / out / "sweep.json").read_text())

    def all_done():
        return all(run_state(str(cwd / out / r["folder"]), r["epochs"])[0] == "done"
                   for r in manifest["runs"].values())
    wait_for(all_done, cwd / out, f"{out}: {count} runs done")
    status = sweep_py(cwd, "--status", out)
    assert f"\n{count} done\n" in status.stdout, status.stdout + status.stderr
    return status


_REFERENCES = {}


def uninterrupted(cluster, options):
    """history.csv of ``train.py options`` run in one go (in this process)."""
    key = tuple(options)
    if key not in _REFERENCES:
        folder = cluster / "reference" / str(len(_REFERENCES))
        load_script("sine-generator/train.py").main([*options, "--threads", "1",
                                                     "--folder", str(folder)])
        _REFERENCES[key] = (folder / "history.csv").read_bytes()
    return _REFERENCES[key]


def attempts(run):
    return (run / "train.log").read_text().count("=== sweep ")


@pytest.fixture(scope="module")
def time_limited(cluster):
    """Submitted first, as it takes longest: a run with --time 2 gets the
    time-limit warning 81 to 90 s after it starts. Its train.py is paused
    (SIGSTOP, no CPU) once it has begun; Slurm's warning comes with a
    SIGCONT to every process of the job, which wakes it. It runs in the
    partition urgent, which nothing preempts: the other tests use the rest
    of the node meanwhile, and preempt only their own runs."""
    out = "time"
    submit(cluster, out, "--seeds", "1", "--time", "2", "--partition", "urgent")
    run = cluster / out / "seed=1"
    pid = training(run, 2)
    os.kill(pid, signal.SIGSTOP)
    return out, run, pid, job_id(cluster, out, "seed=1")


def test_preempted_run_keeps_the_epoch_it_was_in(cluster, time_limited):
    """The run (in the default partition main) is the node's only job
    besides the paused time-limited one, which nothing preempts; a job of
    the partition urgent asks for every CPU but that one's, so it preempts
    the run: Slurm sends SIGTERM, SIGCONT, SIGTERM and requeues the job.
    train.py ends its epoch with a checkpoint, and the requeued job resumes
    after it. First of the tests, well before the time-limited run is
    requeued (which frees its CPU for a while)."""
    out = "preempt"
    submit(cluster, out, "--seeds", "1", fixed=SLOW)
    run = cluster / out / "seed=1"
    training(run, 1)
    cpus = int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    urgent = subprocess.run(["sbatch", "--parsable", "--partition", "urgent", "--cpus-per-task",
                             str(cpus - 1), "--output", "/dev/null", "--wrap", "sleep 1"],
                            capture_output=True, text=True, check=True).stdout.strip()
    wait_for(lambda: attempts(run) == 2, cluster / out, "the requeued job resuming")
    reference = uninterrupted(cluster, [*SLOW, "--seed", "1"])   # while the run finishes
    done(cluster, out)
    assert (run / "history.csv").read_bytes() == reference
    log = (run / "train.log").read_text()
    first = log.split("=== sweep ")[1]
    stopped = re.search(r"stopped by SIGTERM after epoch (\d+)", first)
    assert stopped and "stopped at once" not in first and "killed" not in first, log
    resumed = log.split("=== sweep ")[2].splitlines()[1]
    assert resumed.startswith(f"epoch {int(stopped[1]) + 2}/12"), log   # none redone
    assert subprocess.run(["squeue", "-h", "-j", urgent], capture_output=True,
                          text=True).stdout.strip() == ""


def test_a_grid_is_one_job_array_and_a_rerun_submits_nothing(cluster, time_limited):
    out = "grid"
    manifest = submit(cluster, out, "--grid", "lr=0.01,0.001", "hidden_size=4,6", "--seeds", "1",
                      fixed=[*TINY[:6], "--epochs", "3"])
    arrays = {r["job"]["id"].split("_")[0] for r in manifest["runs"].values()}
    assert len(arrays) == 1 and len(manifest["runs"]) == 4
    references = {name: uninterrupted(cluster, [*TINY[:6], "--epochs", "3", *entry["args"]])
                  for name, entry in manifest["runs"].items()}   # while the array runs
    status = done(cluster, out, 4)
    assert status.returncode == 0 and "4 done" in status.stdout
    summary = (cluster / out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("hidden_size,lr,seed,state,epochs,of,final loss,best loss")
    for name, reference in references.items():
        assert (cluster / out / name / "history.csv").read_bytes() == reference, name
    before = {p: p.read_bytes() for p in (cluster / out).rglob("*")
              if p.is_file() and p.name not in ("summary.csv", "sweep.json")}
    again = sweep_py(cluster, "sine-generator", "--executor", "slurm", "--out", out, "--grid",
                     "lr=0.01,0.001", "hidden_size=4,6", "--seeds", "1", "--", *TINY[:6],
                     "--epochs", "3")
    assert again.returncode == 0 and "4 runs (4 done)\nnothing to start" in again.stdout
    after = {p: p.read_bytes() for p in (cluster / out).rglob("*")
             if p.is_file() and p.name not in ("summary.csv", "sweep.json")}
    assert after == before
    # The jobs are over: submitit's files of the done runs are gone, no "%j".
    assert os.listdir(cluster / out / ".submitit") == []


@pytest.fixture(scope="module")
def requeued(cluster, time_limited):
    """One sweep of two runs, a job array that runs one at a time
    (--slurm_array_parallelism 1: the time-limited run, when it comes back,
    never has to preempt one): seed=1 gets USR2 at once (what the time
    limit's warning does), seed=2 scontrol requeue, each once it has
    trained two epochs. The second starts when the first is requeued, and
    runs while the first waits to start again."""
    out = "requeued"
    submit(cluster, out, "--seeds", "1", "2", "--slurm_array_parallelism", "1")
    for seed, command in ((1, ["scancel", "--signal=USR2"]), (2, ["scontrol", "requeue"])):
        training(cluster / out / f"seed={seed}", 2)
        subprocess.run([*command, job_id(cluster, out, f"seed={seed}")], check=True)
    for seed in (1, 2):   # while the jobs are requeued
        uninterrupted(cluster, [*LONG, "--seed", str(seed)])
    done(cluster, out, 2)
    return out


@pytest.mark.parametrize("seed", [1, 2], ids=["usr2", "requeue"])
def test_requeued_by_a_signal_or_by_scontrol(cluster, requeued, seed):
    run = cluster / requeued / f"seed={seed}"
    assert (run / "history.csv").read_bytes() == uninterrupted(cluster, [*LONG, "--seed",
                                                                         str(seed)])
    log = (run / "train.log").read_text()
    assert "stopped by SIGTERM after epoch" in log and attempts(run) == 2, log


def test_requeued_by_its_time_limit(cluster, time_limited):
    out, run, pid, _ = time_limited
    done(cluster, out)
    assert (run / "history.csv").read_bytes() == uninterrupted(cluster, [*LONG, "--seed", "1"])
    log = (run / "train.log").read_text()
    assert "stopped by SIGTERM after epoch" in log and attempts(run) == 2, log
    # The same job, warned 30 to 90 s after it started (81 s here; the test
    # had paused its train.py), then requeued.
    starts = [datetime.datetime.fromisoformat(t) for t in
              re.findall(r"^=== sweep (\S+) on", log, re.M)]
    assert 30 <= (starts[1] - starts[0]).total_seconds() <= 180, log
    assert job_id(cluster, out, "seed=1") == time_limited[3]


def test_an_sbatch_refusal_is_one_line(cluster):
    for bad in (["--partition", "nosuch"], ["--gpus_per_task", "1"]):
        result = sweep_py(cluster, "sine-generator", "--executor", "slurm", "--out", "refused",
                          "--seeds", "1", *bad, "--", *TINY, "--epochs", "3")
        assert result.returncode == 2 and result.stdout == "", result.stdout
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("sweep.py: error: sbatch refused the job array: ")
        assert not (cluster / "refused").exists()
