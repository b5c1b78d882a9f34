"""word-language-model: model, truncated back-propagation, orbit sampling,
the run folder, generation and every RNN type, on a small corpus written here."""
import random
import warnings

import pandas as pd
import pytest
import torch
from torch import nn

from attractors.options import UsageError, run_cli
from attractors.orbit import OrbitSampler
from attractors.rnn import RNN_TYPES
from conftest import load_script, task_files

ORBIT_WORDS = ["<eos>", "of", "the", ",", ".", "to", "is", "by", "secret", "Japan",
               "Valkyria", "<unk>"]
TINY = ["--epochs", "2", "--batch_size", "4", "--seq_len", "12", "--embed_size", "8",
        "--hidden_size", "8", "--dropout", "0.1", "--verbose", "0"]
TINY_ORBIT = ["--interval_orbit", "1", "--seq_len_orbit", "9", "--burnout_orbit", "3",
              "--n_sequences_orbit", "2"]




@pytest.fixture(scope="module")
def wlm():
    """The task's modules: ``wlm.train``, ``wlm.model``, ``wlm.data``, ``wlm.generate``."""
    task = task_files("word-language-model")
    task.evaluation = load_script("word-language-model/evaluation.py")
    task.plot = load_script("word-language-model/plot_history.py")
    task.generate = load_script("word-language-model/generate.py")
    return task


def write_corpus(folder, n_lines=(300, 60, 60), words=None, seed=0):
    """A WikiText-like corpus of about 2000 training tokens, holding every orbit word."""
    rng = random.Random(seed)
    words = words or [f"w{i}" for i in range(40)] + ORBIT_WORDS[1:]
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in zip(("train.txt", "valid.txt", "test.txt"), n_lines):
        lines = [" " + " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) + " \n"
                 for _ in range(n)]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("wikitext"))


class PlainBackward:
    """Stands in for the Trainer in train_epoch: back-propagation, no clipping."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def backward(self, loss):
        self.optimizer.zero_grad()
        loss.backward()
        return True

    def within_epoch(self):
        return None

    def end_step(self, step, **carry):
        pass


def run(wlm, tmp_path, corpus_dir, *extra, name="run"):
    return wlm.train.main(TINY + ["--data", str(corpus_dir), "--folder", str(tmp_path / name),
                                  *extra])


# ---------------------------------------------------------------- model

def test_importing_runs_nothing(capsys):
    load_script("word-language-model/train.py")
    assert capsys.readouterr() == ("", "")


def test_build_order_and_names_match_the_old_model(wlm):
    torch.manual_seed(2)
    model = wlm.model.WordLanguageModel(50, embed_size=8, hidden_size=6, num_layers=2)
    torch.manual_seed(2)   # the old order: embedding, RNN, decoder
    embedding, lstm, decoder = nn.Embedding(50, 8), nn.LSTM(8, 6, 2), nn.Linear(6, 50)
    assert torch.equal(model.encoder.weight, embedding.weight)
    assert torch.equal(model.rnn.rnn.weight_hh_l1, lstm.weight_hh_l1)
    assert torch.equal(model.decoder.weight, decoder.weight)
    assert torch.equal(model.decoder.bias, decoder.bias)
    assert {"encoder.weight", "rnn.rnn.weight_ih_l0", "decoder.weight",
            "decoder.bias"} <= set(model.state_dict())
    logits, (h, c) = model(torch.zeros(5, 3, dtype=torch.long))
    assert logits.shape == (5, 3, 50) and h.shape == c.shape == (2, 3, 6)


def test_tied_weights_share_one_tensor(wlm):
    model = wlm.model.WordLanguageModel(30, embed_size=8, hidden_size=8, tied_weights=True)
    assert model.decoder.weight is model.encoder.weight
    optimizer = torch.optim.Adam(model.parameters(), 0.1)
    logits, _ = model(torch.randint(30, (4, 2)))
    logits.sum().backward()
    optimizer.step()
    assert model.decoder.weight is model.encoder.weight
    assert model.decoder.weight.data_ptr() == model.encoder.weight.data_ptr()
    with pytest.raises(ValueError, match="hidden_size == embed_size"):
        wlm.model.WordLanguageModel(30, embed_size=8, hidden_size=6, tied_weights=True)


def test_tied_weights_need_equal_sizes_on_the_command_line(wlm, tmp_path, corpus_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(wlm.train.main, TINY + ["--data", str(corpus_dir), "--tied_weights",
                                        "--hidden_size", "6", "--folder", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "embed_size == hidden_size" in err
    assert not (tmp_path / "r").exists()


def test_tied_run_saves_one_tensor_twice(wlm, tmp_path, corpus_dir):
    folder = run(wlm, tmp_path, corpus_dir, "--tied_weights", "--epochs", "1")
    weights = torch.load(f"{folder}/model.pth", weights_only=True)["model"]
    assert torch.equal(weights["encoder.weight"], weights["decoder.weight"])


# ---------------------------------------------------------------- training

def test_state_is_carried_across_windows_and_detached(wlm):
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(20, embed_size=4, hidden_size=5, dropout=0.0)
    seen = []
    forward = model.rnn.forward

    def spy(inp, state=None):
        out, new = forward(inp, state)
        seen.append((state, new))
        return out, new
    model.rnn.forward = spy
    source = wlm.data.batchify(torch.randint(20, (3 * 25,)), 3)   # 25 steps: windows 10, 10, 4
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    # backward would fail if the graph reached into an earlier window
    wlm.train.train_epoch(model, source, 10, PlainBackward(optimizer), optimizer, False)
    assert len(seen) == 3
    first_in, first_out = seen[0]
    assert all(torch.equal(s, torch.zeros(1, 3, 5)) for s in first_in)
    for (_, previous_out), (state_in, _) in zip(seen, seen[1:]):
        for s_in, s_prev in zip(state_in, previous_out):
            assert torch.equal(s_in, s_prev) and s_in.grad_fn is None
            assert s_prev.grad_fn is not None


def test_loss_is_the_mean_cross_entropy_per_token(wlm):
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(20, embed_size=4, hidden_size=5).eval()
    tokens = torch.randint(20, (2 * 13,))
    source = wlm.data.batchify(tokens, 2)
    loss = wlm.evaluation.evaluate(model, source, 5)
    with torch.no_grad():   # one window over the whole stream: the same numbers
        logits, _ = model(source[:-1])
        expected = nn.functional.cross_entropy(logits.reshape(-1, 20), source[1:].reshape(-1))
    assert torch.allclose(loss, expected, atol=1e-6)


@pytest.mark.parametrize("block", [2 ** 20, 7, 1])   # the gradient in one or several blocks
def test_in_place_loss_gives_the_same_bits_as_cross_entropy(wlm, monkeypatch, block):
    monkeypatch.setattr(wlm.model, "LOSS_BLOCK_ELEMENTS", block)
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(50, embed_size=6, hidden_size=7)
    inp, target = torch.randint(50, (9, 3)), torch.randint(50, (9, 3))
    grads, losses = [], []
    for loss_fn in (wlm.model.cross_entropy_sum, wlm.model.cross_entropy_sum_):
        torch.manual_seed(1)                      # the same dropout masks
        model.zero_grad()
        logits, _ = model(inp)
        loss = loss_fn(logits, target)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert torch.equal(losses[0], losses[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    with torch.no_grad():                         # evaluation: the value alone
        logits, _ = model.eval()(inp)
        expected = wlm.model.cross_entropy_sum(logits.clone(), target)
        assert torch.equal(wlm.model.cross_entropy_sum_(logits, target), expected)


def test_one_tiny_epoch_decreases_the_training_loss(wlm, corpus_dir):
    corpus = wlm.data.load_corpus(corpus_dir)
    source = wlm.data.batchify(corpus.train, 4)
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(len(corpus.dictionary), embed_size=8, hidden_size=8,
                                        dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), 0.01)
    before = wlm.evaluation.evaluate(model, source, 12)
    wlm.train.train_epoch(model, source, 12, PlainBackward(optimizer), optimizer, False)
    after = wlm.evaluation.evaluate(model, source, 12)
    assert after < before - 0.1


def test_tiny_run_writes_the_run_folder(wlm, tmp_path, corpus_dir):
    folder = run(wlm, tmp_path, corpus_dir, *TINY_ORBIT)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"history.csv", "model.pth", "train.pyconfig.json",
            "orbit_per_epoch_diagram.pth"} <= names
    orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
    assert orbit["frequency"] == 1
    assert orbit["trajectory"].shape == (9 - 3, 2, 2, 15, 2)
    assert torch.isfinite(orbit["trajectory"]).all()
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    assert list(history.columns) == ["Epoch", "Train Loss", "Valid Loss", "Valid PPL",
                                     "Learning Rate"]
    assert list(history["Epoch"]) == [0, 1] and (history["Learning Rate"] == 0.001).all()
    assert torch.allclose(torch.tensor(history["Valid PPL"].values),
                          torch.tensor(history["Valid Loss"].values).exp(), rtol=1e-5)
    checkpoint = torch.load(f"{folder}/model.pth", weights_only=True)
    assert checkpoint["experiment_name"] == "word-language-model"
    assert checkpoint["epoch"] == int(history["Valid Loss"].idxmin())
    assert {"train_loss", "val_loss", "test_loss"} <= set(checkpoint)
    assert float(checkpoint["val_loss"]) == pytest.approx(history["Valid Loss"].min(), rel=1e-6)
    model = wlm.model.WordLanguageModel(**checkpoint["model_kwargs"])
    model.load_state_dict(checkpoint["model"])


def test_feedback_doubles_the_orbit_outputs(wlm, tmp_path, corpus_dir):
    folder = run(wlm, tmp_path, corpus_dir, *TINY_ORBIT, "--orbit_use_feedback",
                 "--epochs", "1")
    orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
    assert orbit["trajectory"].shape == (9 - 3, 2, 2, 30, 1)


def test_training_stops_once_the_learning_rate_is_below_min_lr(wlm, tmp_path, corpus_dir):
    folder = run(wlm, tmp_path, corpus_dir, "--epochs", "5", "--min_lr", "0.01")
    assert len(pd.read_csv(f"{folder}/history.csv", index_col=0)) == 1


def test_resume_gives_the_uninterrupted_run(wlm, tmp_path, corpus_dir):
    straight = run(wlm, tmp_path, corpus_dir, "--epochs", "2", name="straight")
    run(wlm, tmp_path, corpus_dir, "--epochs", "1", name="parts")
    resumed = wlm.train.main(["--resume", str(tmp_path / "parts"), "--epochs", "2",
                              "--data", str(corpus_dir), "--verbose", "0"])
    a = pd.read_csv(f"{straight}/history.csv", index_col=0)
    b = pd.read_csv(f"{resumed}/history.csv", index_col=0)
    pd.testing.assert_frame_equal(a, b)


def test_missing_data_is_one_line_and_writes_nothing(wlm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(wlm.train.main, ["--data", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err and "download.py" in err
    assert list(tmp_path.iterdir()) == []


def test_defaults_follow_the_spec(wlm):
    config, system = wlm.train.parse([])
    expected = dict(batch_size=100, epochs=100, lr=0.001, clip_value=0.25, seed=2,
                    embed_size=800, hidden_size=800, num_layers=1, seq_len=70, patience=7,
                    min_lr=1e-7, lr_factor=0.1, dropout=0.5, tied_weights=False,
                    lambada=False, rnn_type="LSTM", stabilize=False, interval_orbit=-1,
                    interval_save_orbit=3, n_sequences_orbit=5, seq_len_orbit=1600,
                    burnout_orbit=0, std_orbit=100.0, orbit_use_feedback=False)
    assert {k: config[k] for k in expected} == expected
    assert "data" not in config and "verbose" not in config
    assert system.data.endswith("wikitext-2") and not system.corpus and system.verbose == 1


@pytest.mark.parametrize("rnn_type", RNN_TYPES)
def test_every_rnn_type_trains_one_tiny_epoch(wlm, tmp_path, corpus_dir, rnn_type):
    folder = run(wlm, tmp_path, corpus_dir, "--rnn_type", rnn_type, "--epochs", "1",
                 *TINY_ORBIT, "--seq_len_orbit", "5")
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    assert len(history) == 1 and history.notna().all().all()
    orbit = torch.load(f"{folder}/orbit_per_epoch_diagram.pth", weights_only=True)
    assert orbit["trajectory"].shape == (2, 2, 2, 15, 1)


# ---------------------------------------------------------------- orbit

def test_orbit_draws_follow_the_old_code(wlm, corpus_dir):
    """Constant inputs, projections and initial states consume the random
    stream as the old code did, so a seed gives the same initial states."""
    dictionary = wlm.data.load_corpus(corpus_dir).dictionary
    n = len(dictionary)
    torch.manual_seed(5)
    model = wlm.model.WordLanguageModel(n, embed_size=4, hidden_size=3)
    config = dict(seq_len_orbit=6, burnout_orbit=0, n_sequences_orbit=2, std_orbit=100.0,
                  orbit_use_feedback=False)
    sampler = wlm.model.make_orbit_sampler(model, dictionary, config, "cpu")
    torch.manual_seed(5)
    wlm.model.WordLanguageModel(n, embed_size=4, hidden_size=3)
    ids = torch.randint(n, (2, 1))
    nn.Linear(n, 1, bias=False)
    nn.Linear(n, 2, bias=False)
    random_weights = torch.ones(2, n).uniform_(0, 2)
    nn.Linear(n, 12, bias=False)
    h, c = 100 * torch.randn(1, 4, 3), 100 * torch.randn(1, 4, 3)
    assert torch.equal(sampler.inputs[:2], ids.flatten())
    assert torch.allclose(sampler.projection.random, random_weights / n)
    assert torch.equal(sampler.state0[0], h) and torch.equal(sampler.state0[1], c)


def test_projection_values(wlm, corpus_dir):
    dictionary = wlm.data.load_corpus(corpus_dir).dictionary
    n = len(dictionary)
    projection = wlm.model.OrbitProjection(dictionary)
    assert len(projection) == 15
    assert ((projection.random > 0) & (projection.random < 2 / n)).all()
    logits = torch.randn(7, 3, n)
    out = projection(logits)
    assert out.shape == (7, 3, 15)
    assert torch.allclose(out[..., 0], logits.mean(-1), atol=1e-6)
    assert torch.allclose(out[..., 1:3], logits @ projection.random.t())
    ids = [dictionary.word2idx[w] for w in ORBIT_WORDS]
    assert torch.equal(out[..., 3:], logits[..., ids])


def test_words_missing_from_the_vocabulary_are_skipped_with_a_warning(wlm, tmp_path):
    folder = write_corpus(tmp_path / "small", words=["a", "b", "the", "of"])
    dictionary = wlm.data.load_corpus(folder).dictionary
    with pytest.warns(RuntimeWarning, match="Japan") as record:
        projection = wlm.model.OrbitProjection(dictionary)
    assert "6 outputs" in str(record[0].message)
    assert len(projection) == 3 + 3 and projection.labels[3:] == ["logit '<eos>'", "logit 'of'",
                                                                   "logit 'the'"]
    assert projection(torch.randn(2, 1, len(dictionary))).shape == (2, 1, 6)


def test_sampler_takes_1d_word_ids_and_feedback(wlm):
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(25, embed_size=4, hidden_size=6).eval()
    feedback = wlm.model.FeedbackModel(model)
    sampler = OrbitSampler(model, torch.tensor([3, 7]), 2, 8, 2, 1.0, feedback_model=feedback)
    sampler.sample()
    trajectory = sampler.trajectory()
    assert trajectory.shape == (6, 2, 2, 50, 1)
    # Trajectory (state k, input i) is batch column k * n_i + i.
    state = tuple(s[:, 3:4] for s in sampler.state0)   # state 1, input 7
    with torch.no_grad():
        plain, _ = model(torch.full((8, 1), 7), state)
        word, fed, s = torch.tensor([[7]]), [], state
        for _ in range(8):
            out, s = model(word, s)
            fed.append(out)
            word = out.argmax(-1)
    assert torch.allclose(trajectory[:, 1, 1, :25, 0], plain[2:, 0], atol=1e-5)
    assert torch.allclose(trajectory[:, 1, 1, 25:, 0], torch.cat(fed)[2:, 0], atol=1e-5)


# ---------------------------------------------------------------- LAMBADA

def write_lambada(folder, data):
    rng = random.Random(1)
    vocab = [f"v{i}" for i in range(30)] + ["the", "of"]
    folder.mkdir()
    (folder / data.LAMBADA_VOCAB).write_text("".join(f"{w}\t1\n" for w in vocab))
    (folder / data.LAMBADA_TRAIN / "Fantasy").mkdir(parents=True)
    text = "".join(" ".join(rng.choice(vocab) for _ in range(10)) + "\n" for _ in range(60))
    (folder / data.LAMBADA_TRAIN / "Fantasy" / "novel.txt").write_text(text)
    for name in (data.LAMBADA_VALID, data.LAMBADA_TEST):
        (folder / name).write_text("".join(
            " ".join(rng.choice(vocab) for _ in range(rng.randint(3, 5))) + "\n"
            for _ in range(12)))


def test_lambada_passages_scored_one_by_one_or_stacked_agree(wlm, tmp_path):
    write_lambada(tmp_path / "lambada", wlm.data)
    corpus = wlm.data.load_corpus(tmp_path / "lambada", lambada=True)
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(len(corpus.dictionary), embed_size=4, hidden_size=5)
    stacked = wlm.evaluation.evaluate_passages(model, corpus.valid, 4, "cpu")
    total = 0
    with torch.no_grad():
        for passage in corpus.valid:
            inp, target = wlm.data.lambada_example(passage)
            logits, _ = model(inp)   # a fresh state for every passage
            total += nn.functional.cross_entropy(logits[-1], target)
    assert torch.allclose(stacked, total / len(corpus.valid), atol=1e-5)


def test_lambada_run(wlm, tmp_path):
    write_lambada(tmp_path / "lambada", wlm.data)
    folder = wlm.train.main(TINY + ["--lambada", "--data", str(tmp_path / "lambada"),
                                    "--folder", str(tmp_path / "run"), "--epochs", "1"])
    history = pd.read_csv(f"{folder}/history.csv", index_col=0)
    assert len(history) == 1 and history.notna().all().all()


# ---------------------------------------------------------------- generate and plot

def test_generate_and_plot(wlm, tmp_path, corpus_dir, capsys):
    folder = run(wlm, tmp_path, corpus_dir, "--epochs", "1")
    args = [folder, "--data", str(corpus_dir), "--words", "20", "--seed", "3"]

    def generate(more):
        capsys.readouterr()
        wlm.generate.main(args + more)
        return capsys.readouterr().out
    text = generate(["--prompt", "the w1"])
    assert text.startswith("the w1 ") and len(text.split()) <= 22
    assert generate(["--prompt", "the w1"]) == text        # same seed
    wlm.generate.main(args + ["--prompt", "the w1", "-o", str(tmp_path / "text.txt")])
    assert (tmp_path / "text.txt").read_text() == text
    cold = generate(["--temperature", "0.01"])
    assert len(cold.split()) <= 20
    capsys.readouterr()
    with pytest.raises(UsageError, match="words"):
        wlm.generate.main([folder, "--data", str(write_corpus(tmp_path / "other",
                                                               words=["x", "y"]))])
    wlm.plot.main([folder, "-o", str(tmp_path / "history.png")])
    assert (tmp_path / "history.png").stat().st_size > 0


def test_generation_samples_with_the_temperature(wlm):
    torch.manual_seed(0)
    model = wlm.model.WordLanguageModel(6, embed_size=4, hidden_size=4).eval()
    with torch.no_grad():
        model.decoder.bias.copy_(torch.tensor([0.0, 0, 0, 0, 0, 50]))
        model.decoder.weight.zero_()
    assert list(wlm.generate.generate(model, [0], 10, 1.0, "cpu")) == [5] * 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hot = list(wlm.generate.generate(model, [0], 200, 1000.0, "cpu"))
    assert len(set(hot)) == 6   # a high temperature flattens the distribution
    assert wlm.generate.to_text(["a", "<eos>", "b", "c"]) == "a\nb c"


def test_resume_refuses_another_corpus_and_a_non_utf8_one(wlm, tmp_path, corpus_dir, capsys):
    folder = run(wlm, tmp_path, corpus_dir)
    other = write_corpus(tmp_path / "other", seed=1)          # same words, other text
    with pytest.raises(SystemExit) as e:
        wlm.train.run_cli(wlm.train.main, ["--resume", folder, "--epochs", "3",
                                           "--data", str(other)])
    assert e.value.code == 2 and "trained on other data" in capsys.readouterr().err
    bad = write_corpus(tmp_path / "bad")
    (bad / "train.txt").write_bytes(b"abc \xff\xfe def\n")
    with pytest.raises(SystemExit) as e:
        wlm.train.run_cli(wlm.train.main, TINY + ["--data", str(bad),
                                                  "--folder", str(tmp_path / "b")])
    assert e.value.code == 2 and "not UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_memory_check_counts_the_vocabulary(wlm, tmp_path, monkeypatch, capsys):
    """The embedding, decoder and a window's logits grow with the vocabulary,
    known only once the corpus is read: a run too big for the memory is
    refused then, before anything is written."""
    import attractors.options as options
    words = [f"w{i}" for i in range(3000)]
    corpus = write_corpus(tmp_path / "big", (400, 40, 40), words=words)
    n_words = len(wlm.data.load_corpus(str(corpus)).dictionary)
    config = {"hidden_size": 8, "embed_size": 8, "num_layers": 1, "seq_len": 50,
              "batch_size": 10, "interval_orbit": -1}
    small, big = options.estimate_training_bytes(config), options.estimate_training_bytes(config, n_words)
    assert big - small >= 4 * (50 * 10 * n_words + 4 * 17 * n_words)   # logits; embedding, decoder
    monkeypatch.setattr(options, "available_memory", lambda: (small + big) // 2)
    monkeypatch.chdir(tmp_path)
    args = TINY + ["--seq_len", "50", "--batch_size", "10", "--data", str(corpus),
                   "--folder", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(wlm.train.main, args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "GiB" in err, err
    assert not (tmp_path / "run").exists()


def test_a_failed_allocation_is_one_line(monkeypatch, capsys):
    def allocate(argv):
        return torch.empty(2 ** 62, dtype=torch.uint8)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(allocate, [])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.count("\n") == 1, err
    assert "out of memory allocating 4.29e+09 GiB" in err, err
