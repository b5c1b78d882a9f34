"""sweep.py: the grid, run names, bad input, dry runs, local sweeps through
submitit (a failing run among good ones, the same files as train.py,
resuming after a killed sweep, submitit's requeue), the status table and
the Slurm path as far as it goes without a cluster.

Every train.py subprocess costs a torch import (about 2 s on a busy 2-core
machine), so the file starts 14 of them in all."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pandas as pd
import pytest
import submitit

from conftest import ROOT
from attractors import sweeps
from attractors.options import UsageError

SINE = os.path.join(ROOT, "sine-generator")
TINY = ["--epochs", "3", "--seq_len", "10", "--n_sequences", "4", "--batch_size", "2"]


def train(*runs, env=None):
    """Plain train.py runs (each a list of options) at the same time, as a
    user starts them from the task folder."""
    procs = [subprocess.Popen([sys.executable, "train.py", *args], cwd=SINE, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, **(env or {})}) for args in runs]
    for proc in procs:
        assert proc.wait() == 0, proc.stderr.read()[-500:]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def before_dashes(argv, *extra):
    """``argv`` with sweep.py options ``extra`` put before its ``--``."""
    i = argv.index("--")
    return [*argv[:i], *extra, *argv[i:]]


def snapshot(folder):
    return {os.path.join(d, f): read(os.path.join(d, f))
            for d, _, files in os.walk(folder) for f in files}


# -- naming and the grid (no training) ---------------------------------------------
def test_run_names_are_sorted_safe_and_stable():
    assert sweeps.run_name({"lr": "0.01", "hidden_size": "32", "seed": "1"}) == \
        "hidden_size=32_lr=0.01_seed=1"
    assert sweeps.run_name({"milestones": "100 200"}) == "milestones=100+200"
    odd = sweeps.run_name({"rnn_type": "a/b"})
    assert odd.startswith("rnn_type=a-b_") and "/" not in odd
    assert odd != sweeps.run_name({"rnn_type": "a-b"}) == "rnn_type=a-b"
    long = {f"option_{i}": "0.000001" for i in range(10)}
    assert len(sweeps.run_name(long)) <= sweeps.MAX_NAME
    assert sweeps.run_name(long) == sweeps.run_name(dict(reversed(list(long.items()))))
    assert sweeps.run_name(long) != sweeps.run_name({**long, "option_9": "0.000002"})


def test_grid_flags_lists_and_unions(tmp_path):
    options = sweeps.task_options(os.path.join(SINE, "train.py"))
    assert not options["stabilize"].takes_value and options["stabilize"].config
    assert options["milestones"].is_list and options["epochs"].default == 10000
    assert not options["folder"].config
    sweep = sweeps.Sweep("sine-generator", tmp_path / "out",
                         [["rnn_type=LSTM", "stabilize=true,False"], ["rnn_type=exprnn"],
                          ["rnn_type=LSTM", "stabilize=1", "milestones=10 20"]],
                         [1, 2], TINY)
    runs = sweep.runs
    assert list(runs) == ["rnn_type=LSTM_seed=1_stabilize=true",
                          "rnn_type=LSTM_seed=2_stabilize=true",
                          "rnn_type=LSTM_seed=1_stabilize=false",
                          "rnn_type=LSTM_seed=2_stabilize=false", "rnn_type=exprnn_seed=1",
                          "rnn_type=exprnn_seed=2",
                          "milestones=10+20_rnn_type=LSTM_seed=1_stabilize=true",
                          "milestones=10+20_rnn_type=LSTM_seed=2_stabilize=true"]
    assert runs["rnn_type=LSTM_seed=1_stabilize=true"]["args"] == \
        ["--rnn_type", "LSTM", "--stabilize", "--seed", "1"]
    assert runs["rnn_type=LSTM_seed=1_stabilize=false"]["args"] == \
        ["--rnn_type", "LSTM", "--seed", "1"]
    assert runs["milestones=10+20_rnn_type=LSTM_seed=1_stabilize=true"]["args"] == \
        ["--rnn_type", "LSTM", "--stabilize", "--milestones", "10", "20", "--seed", "1"]
    assert {r["epochs"] for r in runs.values()} == {3}
    start, resume = sweep.commands("rnn_type=exprnn_seed=1", threads=3)
    folder = str(tmp_path / "out" / "rnn_type=exprnn_seed=1")
    assert start == ["train.py", *TINY, "--rnn_type", "exprnn", "--seed", "1",
                     "--threads", "3", "--folder", folder, "--overwrite"]
    assert resume == ["train.py", "--resume", folder, *TINY, "--rnn_type", "exprnn",
                      "--seed", "1", "--threads", "3"]
    assert not (tmp_path / "out").exists()


OUT = "{out}"
BAD = [
    (["no-such-task", "--seeds", "1", "--out", OUT], "no task folder no-such-task"),
    (["sine-generator", "--grid", "lr", "--out", OUT], "malformed --grid item 'lr'"),
    (["sine-generator", "--grid", "lr=", "--out", OUT], "gives no value for lr"),
    (["sine-generator", "--grid", "lr=0.1,,0.2", "--out", OUT], "has an empty value"),
    (["sine-generator", "--grid", "hiden_size=4", "--out", OUT],
     "unknown option key hiden_size .*did you mean hidden_size"),
    (["sine-generator", "--grid", "cuda=true", "--out", OUT], "only config options"),
    (["sine-generator", "--grid", "stabilize=maybe", "--out", OUT], "flag"),
    (["sine-generator", "--grid", "lr=0.1"], "--out"),
    (["sine-generator", "--out", OUT], "nothing to sweep"),
    (["sine-generator", "--seeds", "1", "--out", OUT, "--", "--foo", "1"], "unknown option --foo"),
    (["sine-generator", "--seeds", "1", "--out", OUT, "--", "--folder", "x"],
     "cannot be given after --"),
    (["sine-generator", "--grid", "lr=0.1", "--out", OUT, "--", "--lr", "1"], "both swept"),
    (["sine-generator", "--seeds", "1", "--out", OUT, "--partition", "p"],
     "only apply to --executor slurm"),
    (["--status", OUT], "--status: no such folder"),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, argv, message):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=message):
        sweeps.main([a.format(out=out) for a in argv])
    if argv[0] == "--status":
        out.mkdir()
        with pytest.raises(UsageError):
            sweeps.main([a.format(out=out) for a in argv])
    assert os.listdir(tmp_path) in ([], ["out"]) and not snapshot(tmp_path)


def test_command_line_error_exit_status(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "sweep.py"), "no-such-task",
                           "--seeds", "1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sweep.py: error: no task")
    assert os.listdir(tmp_path) == []


def test_dry_run_prints_the_commands_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "base.json"
    config.write_text('{"clip_value": 0.5}')
    out = tmp_path / "out"
    assert sweeps.main(["sine-generator", "--grid", "stabilize=true,false", "--seeds", "7",
                        "-c", str(config), "--out", str(out), "--workers", "2", "--dry_run",
                        "--", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "2 runs (2 to start)" in printed
    on, off = [line for line in printed.splitlines() if "python train.py" in line]
    assert f"-c {config}" in on and "--stabilize --seed 7" in on
    assert "--stabilize" not in off and off.endswith(f"--folder {out}/seed=7_stabilize=false "
                                                     "--overwrite")
    assert sorted(os.listdir(tmp_path)) == ["base.json"]


# -- a local sweep with a failing run --------------------------------------------------
@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    """Two good runs and two that train.py refuses (seq_len 10**9: more memory than
    there is; within the rule of --seq_len, so the sweep starts them), on two workers."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    argv = ["sine-generator", "--grid", "hidden_size=4", "seq_len=10,1000000000", "--seeds", "1", "2",
            "--workers", "2", "--out", str(out), "--", *TINY[:2], *TINY[4:]]
    code = sweeps.main(argv)
    return code, out, argv


def test_a_failing_run_does_not_stop_the_others(failing_sweep, capsys):
    code, out, argv = failing_sweep
    assert code == 1
    manifest = json.loads(read(out / "sweep.json"))
    states = {name: run["state"] for name, run in manifest["runs"].items()}
    assert states == {"hidden_size=4_seed=1_seq_len=10": "done",
                      "hidden_size=4_seed=1_seq_len=1000000000": "failed",
                      "hidden_size=4_seed=2_seq_len=10": "done",
                      "hidden_size=4_seed=2_seq_len=1000000000": "failed"}
    failed = manifest["runs"]["hidden_size=4_seed=1_seq_len=1000000000"]
    assert failed["message"].startswith("train.py: error: this run needs about ")
    assert manifest["task"] == "sine-generator" and manifest["seeds"] == [1, 2]
    assert manifest["grids"] == [{"hidden_size": ["4"], "seq_len": ["10", "1000000000"]}]
    assert manifest["fixed"] == argv[argv.index("--") + 1:]
    for run in manifest["runs"].values():
        assert os.path.isfile(out / run["folder"] / "train.log")
    # submitit's logs stay for the jobs of failed runs; no folder named %j
    assert sorted(os.listdir(out / ".submitit")) == \
        sorted({r["job"]["id"] for r in manifest["runs"].values() if r["state"] == "failed"})
    # A second invocation leaves the done runs alone and tries the failed ones again.
    capsys.readouterr()
    sweeps.main(before_dashes(argv, "--dry_run"))
    assert "4 runs (2 to restart, 2 done)" in capsys.readouterr().out


def test_a_sweep_run_is_the_train_py_run(failing_sweep, tmp_path):
    code, out, argv = failing_sweep
    threads = json.loads(read(out / "sweep.json"))["executor"]["threads"]
    plain = tmp_path / "plain"
    train([*TINY, "--hidden_size", "4", "--seed", "1", "--folder", str(plain)],
          env={"OMP_NUM_THREADS": str(threads)})
    run = out / "hidden_size=4_seed=1_seq_len=10"
    for name in ("train.pyconfig.json", "history.csv"):
        assert read(run / name) == read(plain / name), name
    assert sorted(os.listdir(run)) == sorted(os.listdir(plain) + [".sweep-exit", "train.log"])


def test_status_table_summary_and_plot(failing_sweep, capsys):
    code, out, argv = failing_sweep
    before = read(out / "sweep.json")
    assert sweeps.main(["--status", str(out), "--plot"]) == 1   # two runs failed: not done
    printed = capsys.readouterr().out
    assert "2 done, 2 failed" in printed
    assert "hidden_size=4_seed=2_seq_len=1000000000: train.py: error: this run needs" in printed
    table = pd.read_csv(out / "summary.csv")
    assert list(table.columns) == ["hidden_size", "seq_len", "seed", "state", "epochs", "of",
                                   "final loss", "best loss", "run", "message"]
    good = table[table["run"] == "hidden_size=4_seed=1_seq_len=10"].iloc[0]
    history = pd.read_csv(out / good["run"] / "history.csv", index_col=0)
    assert good["state"] == "done" and good["epochs"] == good["of"] == 3
    assert good["final loss"] == history["loss"].iloc[-1]
    assert good["best loss"] == history["loss"].min()
    assert read(out / "sweep.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(read(out / "sweep.json"))["runs"] == json.loads(before)["runs"]


def test_plot_of_a_union_of_grids(tmp_path):
    """LSTM with and without --stabilize, and exprnn: a stabilize panel and
    one with the three variants side by side (a table made up here)."""
    rows = [{"rnn_type": rnn, "stabilize": stable, "seed": seed, "state": "done",
             "final loss": loss * seed}
            for rnn, stable, loss in (("LSTM", "false", 0.002), ("LSTM", "true", 0.4),
                                      ("exprnn", "-", 0.02)) for seed in (1, 2, 3)]
    rows.append({**rows[0], "state": "failed", "final loss": float("nan")})
    path = sweeps.plot_sweep(pd.DataFrame(rows), str(tmp_path / "fig" / "p.png"))
    assert read(path)[:4] == b"\x89PNG"
    with pytest.raises(UsageError, match="no run is done"):
        sweeps.plot_sweep(pd.DataFrame(rows[-1:]), str(tmp_path / "q.png"))
    assert not (tmp_path / "q.png").exists()


# -- skipping and resuming ------------------------------------------------------------
def test_resume_after_a_killed_sweep(tmp_path, capsys):
    """seed=1 stopped after 2 of 4 epochs (a checkpoint), seed=2 before its
    first epoch (no checkpoint): the sweep resumes the first, restarts the
    second; the resumed run equals an uninterrupted one; then nothing is left."""
    out, tiny = tmp_path / "out", [*TINY[2:], "--hidden_size", "4"]
    train([*tiny, "--epochs", "2", "--seed", "1", "--folder", str(out / "seed=1")],
          [*tiny, "--epochs", "4", "--seed", "1", "--folder", str(tmp_path / "whole")])
    (out / "seed=2").mkdir()
    (out / "seed=2" / "train.log").write_text("killed\n")
    argv = ["sine-generator", "--seeds", "1", "2", "--out", str(out), "--workers", "2", "--",
            *tiny, "--epochs", "4"]
    assert sweeps.main(argv) == 0
    assert "2 runs (1 to restart, 1 to resume)" in capsys.readouterr().out
    for name in ("history.csv", "train.pyconfig.json", "model.pth"):
        assert read(out / "seed=1" / name) == read(tmp_path / "whole" / name), name
    assert f"resume: cd {SINE} && python train.py --resume {out}/seed=1" in \
        (out / "seed=1" / "train.log").read_text()
    log = (out / "seed=2" / "train.log").read_text()
    assert log.startswith("killed\n") and "--overwrite" in log
    assert os.listdir(out / ".submitit") == []     # every run done: no job's files left
    # Run again: nothing starts and no file changes.
    before = snapshot(out / "seed=1"), snapshot(out / "seed=2")
    assert sweeps.main(argv) == 0
    assert "2 runs (2 done)\nnothing to start" in capsys.readouterr().out
    assert (snapshot(out / "seed=1"), snapshot(out / "seed=2")) == before
    # More seeds add runs; more epochs resume the done ones; other settings are refused.
    sweeps.main(before_dashes(argv[:4] + ["3"] + argv[4:], "--dry_run"))
    assert "3 runs (1 to start, 2 done)" in capsys.readouterr().out
    sweeps.main(before_dashes(argv + ["--epochs", "6"], "--dry_run"))
    assert "2 runs (2 to resume)" in capsys.readouterr().out
    with pytest.raises(UsageError, match="other fixed settings.*choose another --out"):
        sweeps.main(argv + ["--lr", "0.5"])
    assert sorted(json.loads(read(out / "sweep.json"))["runs"]) == ["seed=1", "seed=2"]


def test_sigint_to_the_sweep_process_alone_stops_its_runs(tmp_path):
    """kill -INT of sweep.py from another terminal (not its process group):
    the running train.py stops after its epoch with a checkpoint, the sweep
    exits with 130, and the same command resumes it."""
    out = tmp_path / "out"
    argv = [sys.executable, str(ROOT / "sweep.py"), "sine-generator", "--seeds", "1",
            "--out", str(out), "--workers", "1", "--", "--epochs", "1000", "--seq_len", "50",
            "--n_sequences", "200", "--batch_size", "10", "--hidden_size", "8"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    log, deadline = out / "seed=1" / "train.log", time.monotonic() + 90
    while not (log.is_file() and "epoch 1/" in log.read_text()):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopped by SIGTERM after epoch" in log.read_text()
    epochs = json.loads((out / "seed=1" / "train.pyconfig.json").read_text())["epochs"]
    assert sweeps.run_state(str(out / "seed=1"), epochs)[0] == "interrupted"


def test_requeued_job_resumes_from_its_checkpoint(tmp_path):
    """submitit's own path: the job gets the preemption/time-limit signal,
    its checkpoint() stops train.py (SIGTERM: checkpoint.pth, exit 130) and
    the requeued job resumes the run instead of starting it again."""
    sweep = sweeps.Sweep("sine-generator", tmp_path / "out", [], [1],
                         [*TINY[2:], "--hidden_size", "4", "--epochs", "400"])
    executor = sweeps.make_executor("local", sweep.out, {"timeout_min": 60})
    job, = executor.map_array(sweeps.SweepJob(sweep.job_spec(1, stop_grace_s=30)),
                              [sweep.job_runs(["seed=1"], 1)])
    folder = os.path.join(sweep.out, "seed=1")
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "checkpoint.pth")):
        assert time.monotonic() < deadline and not job.done()
        time.sleep(0.05)
    marker = json.loads(read(os.path.join(folder, sweeps.RUNNING)))
    os.kill(marker["pids"][0], signal.SIGUSR2)   # what Slurm sends before the time limit
    assert job.result() == [{"name": "seed=1", "action": "resume", "returncode": 0,
                             "interrupted": False, "message": ""}]
    log = open(os.path.join(folder, "train.log")).read()
    assert "stopped by SIGTERM after epoch" in log and ": resume: " in log
    assert sweeps.run_state(folder, 400) == ("done", 400, "")


# -- Slurm, without a cluster ----------------------------------------------------------
REFUSING_SBATCH = ('#!/bin/sh\necho "sbatch: error: invalid partition specified: cpu" >&2\n'
                   'echo "sbatch: error: Batch job submission failed: Invalid partition name '
                   'specified" >&2\nexit 1\n')


def fake_slurm(folder, commands=("sbatch", "srun", "squeue"), sbatch=None):
    """Stand-ins on PATH: sbatch keeps the script it is given and answers
    like Slurm (or runs the script ``sbatch``); srun only has to exist;
    squeue lists the two tasks of job array 4242."""
    folder.mkdir()
    scripts = {"sbatch": sbatch or f'#!/bin/sh\ncp "$1" {folder}/submitted.sh\n'
                                   'echo "Submitted batch job 4242"\n',
               "srun": "#!/bin/sh\nexit 1\n",
               "squeue": '#!/bin/sh\necho 4242_0\necho 4242_1\n'}
    for name in commands:
        path = folder / name
        path.write_text(scripts[name])
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def test_slurm_without_sbatch_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_slurm(tmp_path / "bin", ["srun"])))
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="needs the Slurm commands sbatch and srun, but "
                                         "sbatch is not on PATH"):
        sweeps.main(["sine-generator", "--seeds", "1", "--out", str(out), "--executor",
                     "slurm", "--", *TINY])
    assert not out.exists()


def test_slurm_job_array_parameters(tmp_path, monkeypatch, capsys):
    bin_folder = fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    argv = ["sine-generator", "--grid", "lr=0.1,0.01", "--seeds", "1", "--out", str(out),
            "--executor", "slurm", "--partition", "gpu", "--time", "30", "--cpus_per_task",
            "4", "--gpus_per_task", "1", "--mem_gb", "8", "--slurm_array_parallelism", "1",
            "--sbatch", "account=rnn", "--sbatch", "exclusive", "--", *TINY]
    assert sweeps.main(argv) == 0
    assert "as Slurm job array 4242" in capsys.readouterr().out
    script = (bin_folder / "submitted.sh").read_text()
    for line in ("#SBATCH --array=0-1%1", "#SBATCH --partition=gpu", "#SBATCH --time=30",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --gpus-per-task=1", "#SBATCH --mem=8GB",
                 "#SBATCH --account=rnn", "#SBATCH --exclusive", "#SBATCH --signal=USR2@90",
                 "#SBATCH --job-name=sweep-out", "srun --unbuffered"):
        assert line in script.splitlines() or script.count(line), line
    manifest = json.loads(read(out / "sweep.json"))
    assert {r["job"]["id"] for r in manifest["runs"].values()} == {"4242_0", "4242_1"}
    # What each array task will run: the runs, with --cuda and the cores as threads.
    pickles = sorted(p for p in (out / ".submitit" / "4242_0").iterdir()
                     if p.name.endswith("_submitted.pkl"))
    delayed = submitit.core.utils.DelayedSubmission.load(pickles[0])
    (run,), spec = delayed.args[0], delayed.function.spec
    assert isinstance(delayed.function, submitit.helpers.Checkpointable)
    assert run["start"][-3:] == ["--folder", run["folder"], "--overwrite"]
    assert "--cuda" in run["start"] and "--cuda" in run["resume"]
    assert spec["env"]["OMP_NUM_THREADS"] == "4" and spec["stop_grace_s"] == 70
    assert "CUDA_VISIBLE_DEVICES" not in spec["env"]   # Slurm sets it
    # Not started yet (squeue lists them): queued, and not submitted twice.
    assert sweeps.main(["--status", str(out)]) == 0
    assert "2 queued" in capsys.readouterr().out
    (bin_folder / "submitted.sh").unlink()
    assert sweeps.main(argv) == 0
    assert "2 runs (2 queued in Slurm)\nnothing to start" in capsys.readouterr().out
    assert not (bin_folder / "submitted.sh").exists()
    executor = sweeps.make_executor("slurm", str(out), sweeps.slurm_parameters(
        sweeps.build_parser().parse_args(["--time", "5", "--partition", "p"]), "x"))
    assert executor._executor.parameters["partition"] == "p"
    assert executor._executor.parameters["time"] == 5


def test_slurm_time_limit_and_its_warning(tmp_path, monkeypatch, capsys):
    """Slurm sends the warning (USR2) up to 60 s before it is due: --time 1
    is refused, --time 2 asks for it 30 s before the end, longer jobs 90 s."""
    monkeypatch.setenv("PATH", f"{fake_slurm(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    argv = ["sine-generator", "--seeds", "1", "--out", str(out), "--executor", "slurm", "--",
            *TINY]
    with pytest.raises(UsageError, match="--time 1 is too short.*give --time 2 or more"):
        sweeps.main(before_dashes(argv, "--time", "1"))
    assert not out.exists()
    parse = sweeps.build_parser().parse_args
    for minutes, delay in ((2, 30), (3, 90), (600, 90)):
        params = sweeps.slurm_parameters(parse(["--time", str(minutes)]), "x")
        assert params["slurm_signal_delay_s"] == delay
    assert sweeps.main(before_dashes(argv, "--time", "2")) == 0
    assert "#SBATCH --signal=USR2@30" in (tmp_path / "bin" / "submitted.sh").read_text()


@pytest.mark.parametrize("before", ["nothing", "a sweep"])
def test_an_sbatch_refusal_is_one_line_and_leaves_out_as_it_was(tmp_path, monkeypatch,
                                                                 capsys, before):
    out = tmp_path / "out"
    argv = ["sine-generator", "--seeds", "1", "--out", str(out), "--executor", "slurm", "--",
            *TINY]
    if before == "a sweep":
        monkeypatch.setenv("PATH", f"{fake_slurm(tmp_path / 'ok')}{os.pathsep}"
                                   f"{os.environ['PATH']}")
        sweeps.main(argv)
        (out / "seed=1").mkdir()   # as if the job had failed before its first epoch
        (out / "seed=1" / "train.log").write_text("killed\n")
        argv = argv[:2] + ["1", "2"] + argv[3:]
    snap, folders = snapshot(tmp_path), [d for d, _, _ in os.walk(tmp_path)]
    monkeypatch.setenv("PATH", f"{fake_slurm(tmp_path / 'bin', sbatch=REFUSING_SBATCH)}"
                               f"{os.pathsep}{os.environ['PATH']}")
    capsys.readouterr()
    with pytest.raises(UsageError) as info:
        sweeps.main(argv)
    assert str(info.value) == ("sbatch refused the job array: Invalid partition name specified; "
                               "nothing was submitted")
    assert capsys.readouterr() == ("", "")      # sbatch's own lines are not shown
    assert {k: v for k, v in snapshot(tmp_path).items() if "/bin/" not in k} == snap
    assert [d for d, _, _ in os.walk(tmp_path) if not d.endswith("/bin")] == folders
    assert out.exists() == (before == "a sweep")


def test_sweep_starts_without_torch():
    """sweep.py --help, --status and the job processes import no torch (only
    each train.py does)."""
    code = ("import sys, runpy; sys.argv = ['sweep.py', '--help']\n"
            "try:\n    runpy.run_path('sweep.py', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "import attractors.sweeps.runner\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-500:]
    assert "usage: sweep.py" in done.stdout


# -- --population: runs that differ only by seed in one train.py ------------------
def test_population_sweep_trains_seeds_together_and_each_run_stays_a_run(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sine-generator", "--seeds", "1", "2", "3", "5", "--population", "3",
            "--workers", "2", "--out", str(out), "--", *TINY, "--hidden_size", "4"]
    assert sweeps.main(argv) == 0
    manifest = json.loads(read(out / "sweep.json"))
    folders = {name: run["folder"] for name, run in manifest["runs"].items()}
    assert folders == {"seed=1": "seeds=1-3/seed-1", "seed=2": "seeds=1-3/seed-2",
                       "seed=3": "seeds=1-3/seed-3", "seed=5": "seed=5"}
    assert {run["state"] for run in manifest["runs"].values()} == {"done"}
    # one train.py for seeds 1-3 (each copy equal to its single run: test_population.py)
    assert "--population 3" in read(out / "seeds=1-3" / "train.log").decode()
    assert len(pd.read_csv(out / "seeds=1-3" / "seed-2" / "history.csv")) == 3
    # A run of a population that failed (as after a non-finite loss in its
    # first epoch) runs alone next time; the others are done.
    failed = out / "seeds=1-3" / "seed-2"
    for name in ("model.pth", "checkpoint.pth", "history.csv"):
        os.remove(failed / name)
    (failed / ".sweep-exit").write_text(json.dumps({"returncode": 3, "epochs": 3,
                                                    "message": "seed 2: the loss became nan"}))
    capsys.readouterr()
    assert sweeps.main(before_dashes(argv, "--dry_run")) == 0
    printed = capsys.readouterr().out
    assert "1 to restart, 3 done" in printed and "--population" not in printed
    assert sweeps.main(argv) == 0
    assert json.loads(read(out / "sweep.json"))["runs"]["seed=2"]["state"] == "done"
    # --population is fixed for the sweep; after -- it is refused.
    with pytest.raises(UsageError, match="--population 3"):
        sweeps.main(argv[:6] + argv[8:])
    with pytest.raises(UsageError, match="give --population to sweep.py"):
        sweeps.main(["sine-generator", "--seeds", "1", "--out", str(tmp_path / "x"), "--",
                     "--population", "2"])
