import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY_SINE


def run_train(args, cwd, task="sine-generator"):
    return subprocess.run([sys.executable, str(ROOT / task / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_precedence_defaults_file_command_line(sine, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lr": 0.5, "hidden_size": 7, "milestones": [3, 4]}))
    config, system = sine.train.parse(["-c", str(path), "--hidden_size", "9"])
    assert config["lr"] == 0.5                # from the file
    assert config["hidden_size"] == 9         # command line beats the file
    assert config["milestones"] == [3, 4]
    assert config["epochs"] == 10000          # default
    assert config["gamma"] == 0.1
    assert system.folder is None and system.cuda is False
    assert "folder" not in config and "cuda" not in config and "config" not in config


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"no_such_option": 1}', "unknown option(s) no_such_option"),
    ('{"epochs": "ten"}', "'epochs' must be an integer"),
    ('{"epochs": true}', "'epochs' must be an integer"),
    ('{"lr": "fast"}', "'lr' must be a number"),
    ('{"milestones": "5"}', "'milestones' must be a list"),
    ('{"stabilize": 1}', "'stabilize' must be true or false"),
    ('{"rnn_type": "LSTMX"}', "'rnn_type': must be one of LSTM, GRU"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_bad_config_file(sine, tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(sine.train.UsageError, match=".*" + message.replace("(", r"\(").replace(")", r"\)")):
        sine.train.parse(["-c", str(path)])


def test_int_accepted_for_float_option(sine, tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"lr": 1}')
    config, _ = sine.train.parse(["-c", str(path)])
    assert config["lr"] == 1.0 and isinstance(config["lr"], float)


@pytest.mark.parametrize("args, message", [
    (["-c", "missing.json"], "argument -c/--config: no such file: missing.json"),
    (["--rnn_type", "LSTMX"], "must be one of LSTM, GRU, RNN, exprnn, dtriv, cayley, got 'LSTMX'"),
    (["--rnn_type", "EURNN"], "EURNN was listed by the original code but never implemented"),
    (["--rnn_type", "GRU", "--stabilize"], "--stabilize applies only to --rnn_type LSTM"),
    (["--interval_orbit", "1", "--burnout_orbit", "1600"], "burnout_orbit (1600) must be"),
    (["--epochs", "x"], "argument --epochs: invalid int value"),
    (["--no_such_flag"], "unrecognized arguments: --no_such_flag"),
])
def test_bad_command_line_is_one_line_and_leaves_nothing(sine, tmp_path, monkeypatch, capsys,
                                                        args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        sine.train.run_cli(sine.train.main, args + ["--folder", "out"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_bad_input_from_the_shell_has_no_traceback(tmp_path):
    result = run_train(["--rnn_type", "EURNN", "--folder", "out"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("train.py: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu(sine, tmp_path):
    with pytest.raises(sine.train.UsageError, match="no CUDA GPU is available"):
        sine.train.main(["--cuda", "--folder", str(tmp_path / "out")])
    assert list(tmp_path.iterdir()) == []


def test_help_creates_nothing(tmp_path):
    result = run_train(["--help"], cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--epochs", "--interval_orbit", "--rnn_type", "--cuda", "--folder", "-c"):
        assert option in result.stdout
    assert "(default: 10000)" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_default_folder_name(sine, tmp_path, monkeypatch):
    import datetime
    from attractors.options import default_folder
    monkeypatch.chdir(tmp_path)
    name = default_folder(datetime.datetime(2026, 11, 28, 22, 54, 46, 123456))
    assert name == str(tmp_path / "output-2026-11-28_22_54_46.123456")


def test_saved_config_repeats_the_run(sine, tmp_path):
    sine.train.main(TINY_SINE + ["--lr", "0.01", "--folder", str(tmp_path / "a")])
    saved = tmp_path / "a" / "train.pyconfig.json"
    sine.train.main(["-c", str(saved), "--folder", str(tmp_path / "b")])
    assert json.loads(saved.read_text()) == json.loads((tmp_path / "b" / "train.pyconfig.json").read_text())
    history = [(tmp_path / f / "history.csv").read_text() for f in ("a", "b")]
    assert history[0] == history[1]
    orbits = [torch.load(tmp_path / f / "orbit_per_epoch_diagram.pth", weights_only=True)
              for f in ("a", "b")]
    assert torch.equal(orbits[0]["trajectory"], orbits[1]["trajectory"])
