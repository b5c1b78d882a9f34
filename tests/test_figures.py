"""Every figure script at a tiny size writes a non-empty PNG."""
import sys

from conftest import ROOT
from test_word_language_model import write_corpus

EXPECTED = ["fig_a_sine_lstm.png", "fig_b_sine_stable_lstm.png", "fig_c_sine_exprnn.png",
            "fig_d_temporal_order.png", "fig_e_language_model.png",
            "chaotic_lstm_attractor.png", "chaotic_lstm_bifurcation.png",
            "chaotic_lstm_loss_line.png", "chaotic_lstm_loss_slice.png",
            "fig_g_smoothness.png", "fig_h_lyapunov.png"]


def test_make_all_tiny(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "figures"))
    try:
        import make_all
        corpus = write_corpus(tmp_path / "corpus")
        make_all.main(["--tiny", "--out", str(tmp_path / "img"), "--runs", str(tmp_path / "runs"),
                       "--data", str(corpus)])
    finally:
        sys.path.remove(str(ROOT / "figures"))
    for name in EXPECTED:
        data = (tmp_path / "img" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name
    assert "total:" in capsys.readouterr().out


def test_language_model_figure_is_skipped_without_data(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "figures"))
    try:
        import fig_e_language_model
        assert fig_e_language_model.main(["--tiny", "--out", str(tmp_path)]) is None
    finally:
        sys.path.remove(str(ROOT / "figures"))
    assert "figure e skipped" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_a_figure_script_runs_as_a_command(tmp_path):
    import subprocess
    result = subprocess.run([sys.executable, str(ROOT / "figures" / "fig_b_sine_stable.py"),
                             "--tiny", "--out", str(tmp_path), "--runs", str(tmp_path / "runs")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fig_b_sine_stable_lstm.png").stat().st_size > 2000
