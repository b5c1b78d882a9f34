"""Every figure script at a tiny size writes a non-empty PNG (each is run as a command).
The first command of each test runs in one fixture, two at a time: make_all.py
(about a minute) beside the others."""
import subprocess
import sys

import pytest

from conftest import ROOT, together
from test_word_language_model import write_corpus

EXPECTED = ["fig_a_sine_lstm.png", "fig_b_sine_stable_lstm.png", "fig_c_sine_exprnn.png",
            "fig_d_temporal_order.png", "fig_e_language_model.png",
            "chaotic_lstm_attractor.png", "chaotic_lstm_bifurcation.png",
            "chaotic_lstm_loss_line.png", "chaotic_lstm_loss_slice.png",
            "fig_g_smoothness.png", "fig_h_lyapunov.png", "fig_i_seed_study.png"]


def figure(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "figures" / script), *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """By test: its scratch folder and its first command, finished."""
    folders = {name: tmp_path_factory.mktemp(name) for name in
               ("make_all", "skipped", "gallery", "check", "seeds")}
    corpus = write_corpus(folders["make_all"] / "corpus")
    (folders["skipped"] / "empty").mkdir()
    shipped = (ROOT / "img" / "fig_h_lyapunov.png").read_bytes()
    calls = {
        "make_all": lambda d=folders["make_all"]: figure(
            "make_all.py", "--tiny", "--out", d / "img", "--runs", d / "runs", "--data", corpus),
        "skipped": lambda d=folders["skipped"]: figure(
            "fig_e_language_model.py", "--tiny", "--out", d / "img", "--data", d / "empty"),
        "gallery": lambda d=folders["gallery"]: figure(
            "fig_h_lyapunov.py", "--tiny", "--runs", d / "runs", "--dpi", "20"),
        "check": lambda d=folders["check"]: figure(
            "check_figures.py", "--tiny", "--figures", "h", "--settings", "default", "--out",
            d / "check"),
        "seeds": lambda d=folders["seeds"]: figure(
            "fig_i_seed_study.py", "--tiny", "--copies", "2", "--runs", d, "--dpi", "20"),
    }
    results = together(*calls.values())
    done = {name: (folders[name], result) for name, result in zip(calls, results)}
    done["gallery"] += (shipped,)
    return done


def test_make_all_tiny(ran):
    tmp_path, result = ran["make_all"]
    assert result.returncode == 0, result.stderr[-2000:]
    for name in EXPECTED:
        data = (tmp_path / "img" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name
    assert "total:" in result.stdout
    # A second time, the training runs are reused, not trained again.
    again = figure("fig_b_sine_stable.py", "--tiny", "--out", tmp_path / "img", "--runs",
                   tmp_path / "runs")
    assert again.returncode == 0 and "reusing" in again.stdout


def test_language_model_figure_is_skipped_without_data(ran):
    tmp_path, result = ran["skipped"]
    assert result.returncode == 0, result.stderr
    assert "figure e skipped" in result.stdout
    assert not (tmp_path / "img").exists()
    # a folder that is not there is a mistake, not a skip
    result = figure("fig_e_language_model.py", "--tiny", "--data", tmp_path / "nothing")
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_a_tiny_figure_never_replaces_the_gallery(ran):
    tmp_path, result, shipped = ran["gallery"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert (ROOT / "img" / "fig_h_lyapunov.png").read_bytes() == shipped
    assert (tmp_path / "runs" / "fig_h_lyapunov.png").read_bytes()[:4] == b"\x89PNG"


def test_check_figures_judges_a_figure_under_a_setting(ran):
    tmp_path, result = ran["check"]
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "check" / "figure_check.csv").read_text().splitlines()
    assert table[0] == "figure,setting,holds,looks,numbers"
    assert table[1].startswith("h,default,yes,1.0,\"exponent at s=1 ")
    again = figure("check_figures.py", "--figures", "h", "--settings", "default", "--out",
                   tmp_path / "check", "--judge_only")
    assert again.returncode == 0 and "exponent at s=1" in again.stdout
    # figures never made: it judged them as scripts that failed (exit status 0, folders made)
    none = figure("check_figures.py", "--out", tmp_path / "c3", "--judge_only")
    assert none.returncode == 2 and "holds none of these figures" in none.stderr
    assert not (tmp_path / "c3").exists()
    # a figure script that failed: the check ended with exit status 0
    (tmp_path / "c4" / "default").mkdir(parents=True)
    (tmp_path / "c4" / "default" / "a.exit").write_text("1")
    (tmp_path / "c4" / "default" / "a.log").write_text("train.py: error: ...")
    failed = figure("check_figures.py", "--out", tmp_path / "c4", "--judge_only", "--figures",
                    "a", "--settings", "default")
    assert failed.returncode == 1 and "the figure script failed for a (default)" in failed.stderr
    bad = figure("check_figures.py", "--out", tmp_path / "c2", "--jobs", "0")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "argument --jobs: must be an integer in [1, 64], got '0'" in bad.stderr and not (tmp_path / "c2").exists()


def test_seed_study_tiny_takes_the_copies_asked_for(ran):
    """--tiny made 3 copies whatever --copies said, without a word."""
    _, result = ran["seeds"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert "of 2 seeds" in result.stdout and "seed 6" not in result.stdout
