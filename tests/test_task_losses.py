"""The smoothness analysis on temporal-order and language-model runs."""
import pandas as pd

from conftest import load_script, run_script
from test_sequence_classification import TINY as TINY_ORDER
from test_word_language_model import TINY as TINY_LM, write_corpus
from conftest import load_script as _load
scaled_windows = _load("sequence-classification/data.py").scaled_windows


def test_windows_keep_their_relative_positions():
    assert scaled_windows([9, 39], [10], 1) == [(9, 19), (39, 49)]
    assert scaled_windows([9, 39], 10, 2) == [(18, 38), (78, 98)]
    assert scaled_windows([9, 39], [10], 25 / 200) == [(1, 2), (4, 5)]


def run_smoothness(folder, *extra):
    return run_script("analyse_smoothness.py", folder, "--seq_lens", "12", "24",
                      "--n_points", "11", *extra)


def smoothness(folder, *extra):
    result = run_smoothness(folder, *extra)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(f"{folder}/smoothness.csv")


def test_temporal_order_run(tmp_path):
    train = load_script("sequence-classification/train.py")
    folder = train.main(TINY_ORDER + ["--folder", str(tmp_path / "run")])
    table = smoothness(folder)
    assert len(table) == 2 and (table.filter(like="ipschitz").iloc[:, 0] >= 0).all()
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    curves = pd.read_csv(f"{folder}/smoothness_curves.csv")
    assert curves.shape[0] >= 11 and history.shape[0] == 3


def test_language_model_run_needs_its_corpus(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    train = load_script("word-language-model/train.py")
    folder = train.main(TINY_LM + ["--data", str(corpus), "--folder", str(tmp_path / "run")])
    result = run_smoothness(folder)             # no --data: a one-line error
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("analyse_smoothness.py:")
    table = smoothness(folder, "--data", str(corpus))
    assert len(table) == 2
