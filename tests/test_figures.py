"""Every figure script at a tiny size writes a non-empty PNG (each is run as a command)."""
import subprocess
import sys

from conftest import ROOT
from test_word_language_model import write_corpus

EXPECTED = ["fig_a_sine_lstm.png", "fig_b_sine_stable_lstm.png", "fig_c_sine_exprnn.png",
            "fig_d_temporal_order.png", "fig_e_language_model.png",
            "chaotic_lstm_attractor.png", "chaotic_lstm_bifurcation.png",
            "chaotic_lstm_loss_line.png", "chaotic_lstm_loss_slice.png",
            "fig_g_smoothness.png", "fig_h_lyapunov.png", "fig_i_seed_study.png"]


def figure(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "figures" / script), *map(str, args)],
                          capture_output=True, text=True)


def test_make_all_tiny(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    result = figure("make_all.py", "--tiny", "--out", tmp_path / "img", "--runs",
                    tmp_path / "runs", "--data", corpus)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in EXPECTED:
        data = (tmp_path / "img" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name
    assert "total:" in result.stdout
    # A second time, the training runs are reused, not trained again.
    again = figure("fig_b_sine_stable.py", "--tiny", "--out", tmp_path / "img", "--runs",
                   tmp_path / "runs")
    assert again.returncode == 0 and "reusing" in again.stdout


def test_language_model_figure_is_skipped_without_data(tmp_path):
    (tmp_path / "empty").mkdir()
    result = figure("fig_e_language_model.py", "--tiny", "--out", tmp_path / "img",
                    "--data", tmp_path / "empty")
    assert result.returncode == 0, result.stderr
    assert "figure e skipped" in result.stdout
    assert not (tmp_path / "img").exists()
    # a folder that is not there is a mistake, not a skip
    result = figure("fig_e_language_model.py", "--tiny", "--data", tmp_path / "nothing")
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_a_tiny_figure_never_replaces_the_gallery(tmp_path):
    shipped = (ROOT / "img" / "fig_h_lyapunov.png").read_bytes()
    result = figure("fig_h_lyapunov.py", "--tiny", "--runs", tmp_path / "runs", "--dpi", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (ROOT / "img" / "fig_h_lyapunov.png").read_bytes() == shipped
    assert (tmp_path / "runs" / "fig_h_lyapunov.png").read_bytes()[:4] == b"\x89PNG"


def test_check_figures_judges_a_figure_under_a_setting(tmp_path):
    result = figure("check_figures.py", "--tiny", "--figures", "h", "--settings", "default",
                    "--out", tmp_path / "check")
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


def test_seed_study_tiny_takes_the_copies_asked_for(tmp_path):
    """--tiny made 3 copies whatever --copies said, without a word."""
    result = figure("fig_i_seed_study.py", "--tiny", "--copies", "2", "--runs", tmp_path,
                    "--dpi", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "of 2 seeds" in result.stdout and "seed 6" not in result.stdout
