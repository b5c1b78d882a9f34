"""Temporal-order data generator (sequence-classification/data.py)."""
import numpy as np
import pytest
import torch

from conftest import load_script

data = load_script("sequence-classification/data.py")


reference = data.reference_generator


def test_one_draw_per_sequence_is_the_same_stream():
    u, y = data.reference_generator(2, 4, [(1, 3), (5, 8)], 12, 6, 3)
    u2, y2 = data.reference_generator(2, 4, [(1, 3), (5, 8)], 12, 6, 3, per_sequence=True)
    assert np.array_equal(u, u2) and np.array_equal(y, y2)


# (n_symbols, n_distractors, windows, seq_len, n_sequences, seed)
CASES = [
    (2, 4, [(9, 19), (39, 49)], 60, 30, 2),         # the defaults, shorter
    (3, 5, [(0, 7), (7, 8), (20, 33)], 40, 25, 11),  # odd lengths, adjacent windows
    (2, 3, [(4, 9)], 12, 40, 7),                     # distractors not a power of two
    (5, 7, [(1, 4), (6, 11)], 15, 20, 123),
    (4, 6, [(2, 3), (5, 10)], 10, 20, 0),            # a window of one step
    (1, 1, [(2, 3)], 5, 9, 4),                       # ranges of 1 take no word
    (2, 6, [(10, 13), (0, 5)], 14, 20, 99),          # windows not in time order
]


@pytest.mark.parametrize("case", CASES)
def test_equals_scalar_reference(case):
    u_ref, y_ref = reference(*case)
    out = data.data_generator(*case, "cpu")
    assert np.array_equal(out["u"].numpy(), u_ref.astype(np.float32))
    assert np.array_equal(out["y"].numpy(), y_ref)


@pytest.mark.parametrize("case", CASES[:4])
@pytest.mark.parametrize("n_words", [1, 7, 100])
def test_too_few_words_at_first_still_exact(case, n_words):
    d_ref, p_ref, s_ref = data._draws(*case)
    d, p, s = data._draws(*case, n_words=n_words)
    assert np.array_equal(d, d_ref)
    assert all(np.array_equal(a, b) for a, b in zip(p + s, p_ref + s_ref))


def test_defaults_prefix_equals_reference():
    intervals = data.windows([9, 39], 10)
    u_ref, y_ref = reference(2, 4, intervals, 200, 20, 2)
    out = data.data_generator(2, 4, intervals, 200, 300, 2, "cpu")
    # Sequence b's draws do not depend on how many come after it.
    assert np.array_equal(out["u"][:, :20].numpy(), u_ref.astype(np.float32))
    assert np.array_equal(out["y"][:20].numpy(), y_ref)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 10, 17])
def test_randint_block_draws_like_scalar_calls(size):
    # A fact the replay leans on: size=k consumes the generator like k calls.
    block, scalar = np.random.RandomState(5), np.random.RandomState(5)
    a = block.randint(3, 3 + size, size=200)
    b = [scalar.randint(3, 3 + size) for _ in range(200)]
    assert a.dtype == np.int64 and np.array_equal(a, b)
    assert block.randint(2 ** 31) == scalar.randint(2 ** 31)


def _generate(seed=3, n_symbols=3, n_distractors=5, intervals=((2, 7), (9, 10), (12, 20))):
    return data.data_generator(n_symbols, n_distractors, list(intervals), 24, 50, seed, "cpu")


def test_types_and_shapes():
    out = _generate()
    assert out["u"].dtype == torch.float32 and out["u"].shape == (24, 50, 8)
    assert out["y"].dtype == torch.int64 and out["y"].shape == (50,)
    assert out["n_classes"] == 27 and out["input_size"] == 8
    assert out["u"].device.type == "cpu"


def test_one_active_symbol_per_step():
    u = _generate()["u"]
    assert set(u.unique().tolist()) == {0.0, 1.0}
    assert torch.all(u.sum(dim=-1) == 1)


def test_relevant_symbols_in_their_windows_only():
    intervals = [(2, 7), (9, 10), (12, 20)]
    relevant = _generate(intervals=intervals)["u"][:, :, :3].sum(dim=-1)  # (seq_len, n)
    inside = torch.zeros(24, dtype=torch.bool)
    for start, end in intervals:
        assert torch.all(relevant[start:end].sum(dim=0) == 1)
        inside[start:end] = True
    assert torch.all(relevant[~inside] == 0)


def test_labels_decode_to_relevant_symbols_in_order():
    intervals = [(12, 20), (2, 7), (9, 10)]  # class digits follow this order
    out = _generate(intervals=intervals)
    u, y = out["u"], out["y"]
    for b in range(u.shape[1]):
        label, digits = int(y[b]), []
        for _ in intervals:
            label, digit = divmod(label, 3)
            digits.insert(0, digit)
        assert label == 0
        for (start, end), digit in zip(intervals, digits):
            _, symbols = torch.nonzero(u[start:end, b, :3], as_tuple=True)
            assert symbols.tolist() == [digit]


def test_seed_reproducible_and_seed_plus_one_differs():
    a, b, c = _generate(seed=8), _generate(seed=8), _generate(seed=9)
    assert torch.equal(a["u"], b["u"]) and torch.equal(a["y"], b["y"])
    assert not torch.equal(a["u"], c["u"])
    assert not torch.equal(a["y"], c["y"])


def test_windows_helper():
    assert data.windows([9, 39], 10) == [(9, 19), (39, 49)]
    assert data.windows([9, 39], [10]) == [(9, 19), (39, 49)]
    assert data.windows([9, 39], [10, 3]) == [(9, 19), (39, 42)]
    assert data.windows(5, 2) == [(5, 7)]
    assert data.windows((np.int64(1),), np.int64(4)) == [(1, 5)]


@pytest.mark.parametrize("starts, lengths, match", [
    ([9, 39], [10, 10, 10], "1 or 2 values"),
    ([9, 39], 0, ">= 1"),
    ([-1], 3, ">= 0"),
    ([], 3, "empty"),
    ([9], 2.5, "integer"),
    ("9", 3, "integer"),
])
def test_windows_helper_rejects(starts, lengths, match):
    with pytest.raises(ValueError, match=match):
        data.windows(starts, lengths)


GOOD = dict(n_symbols=2, n_distractors=4, interval_positions=[(1, 3), (5, 8)],
            seq_len=10, n_sequences=4, seed=0, device="cpu")


@pytest.mark.parametrize("change, match", [
    (dict(n_distractors=0), "n_distractors must be >= 1"),
    (dict(n_symbols=0), "n_symbols must be >= 1"),
    (dict(seq_len=0), "seq_len must be >= 1"),
    (dict(n_sequences=0), "n_sequences must be >= 1"),
    (dict(n_symbols=2.0), "n_symbols must be an integer"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(seed=2 ** 32), "seed must be < 2"),
    (dict(interval_positions=[]), "at least one window"),
    (dict(interval_positions=[(1, 3, 4)]), "pair"),
    (dict(interval_positions=5), "pairs"),
    (dict(interval_positions=[(5, 11)]), "seq_len = 10"),
    (dict(interval_positions=[(-1, 3)]), ">= 0"),
    (dict(interval_positions=[(4, 4)]), "start < end"),
    (dict(interval_positions=[(1, 5), (4, 8)]), "overlap"),
    (dict(interval_positions=[(4, 8), (0, 6)]), "overlap"),
])
def test_bad_inputs_raise(change, match):
    with pytest.raises(ValueError, match=match):
        data.data_generator(**{**GOOD, **change})


def test_good_inputs_accepted():
    out = data.data_generator(**GOOD)
    assert out["n_classes"] == 4
