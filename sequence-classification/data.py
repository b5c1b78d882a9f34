"""Temporal-order data: one-hot distractors with a few relevant symbols.

Every time step holds one active symbol. Most are distractors; in each
position window one step holds a relevant symbol instead, and the class is
the ordered tuple of relevant symbols, read as a number in base `n_symbols`
(first window = most significant digit).

A seed gives the same arrays as the old code, which drew, with
`np.random.RandomState(seed)`, for each sequence: one `randint(n_distractors)`
per time step, then per window `randint(start, end)` and `randint(n_symbols)`.

We make the same draws without calling `randint` once per step. For a range
`r` below 2**32 the legacy `randint` takes 32-bit words from the Mersenne
Twister, masks each with the smallest `2**k - 1 >= r - 1` and rejects results
`>= r`; a range of 1 takes no word at all. So we draw the raw words once and
replay that rule with array operations; only finding where each sequence's
draws begin walks the sequences, a few scalar look-ups each. The rule is
checked against scalar `randint` calls in tests/test_temporal_order_data.py.
"""
import numbers

import numpy as np
import torch


def windows(position_symbols_start, position_symbols_len):
    """Position windows `[(start, start + length), ...]`, end exclusive.

    `position_symbols_len` is an int, a one-element list (used for every
    start) or a list with one length per start.
    """
    starts = _int_list("position_symbols_start", position_symbols_start, 0)
    lengths = _int_list("position_symbols_len", position_symbols_len, 1)
    if len(lengths) == 1:
        lengths = lengths * len(starts)
    if len(lengths) != len(starts):
        raise ValueError(f"position_symbols_len needs 1 or {len(starts)} values "
                         f"(one per start), got {len(lengths)}")
    return [(start, start + length) for start, length in zip(starts, lengths)]


def scaled_windows(position_symbols_start, position_symbols_len, ratio):
    """The windows moved to the same relative positions in sequences
    ``ratio`` times as long, each at least one step long."""
    scaled = []
    for start, end in windows(position_symbols_start, position_symbols_len):
        first = int(start * ratio)
        scaled.append((first, first + max(1, int((end - start) * ratio))))
    return scaled


def reference_generator(n_symbols, n_distractors, intervals, seq_len, n_sequences, seed,
                        per_sequence=False):
    """The original generator taken literally, one scalar ``randint`` per
    time step, as float64 ``u`` and int64 ``y`` arrays; with
    ``per_sequence``, one ``randint(size=seq_len)`` per sequence, which takes
    the same draws. Slow: kept as the reference :func:`data_generator` is
    tested and timed against."""
    rng = np.random.RandomState(seed)
    u = np.zeros((seq_len, n_sequences, n_symbols + n_distractors))
    y = np.zeros(n_sequences, dtype=np.int64)
    for b in range(n_sequences):
        if per_sequence:
            u[np.arange(seq_len), b, n_symbols + rng.randint(n_distractors, size=seq_len)] = 1
        else:
            for t in range(seq_len):
                u[t, b, n_symbols + rng.randint(n_distractors)] = 1
        for i, (start, end) in enumerate(intervals):
            p = rng.randint(start, end)
            s = rng.randint(n_symbols)
            y[b] += s * n_symbols ** (len(intervals) - i - 1)
            u[p, b, s] = 1
            u[p, b, n_symbols:] = 0
    return u, y


def data_generator(n_symbols, n_distractors, interval_positions, seq_len,
                   n_sequences, seed, device=None):
    """Temporal-order sequences.

    Returns a dict: `u` float32 (seq_len, n_sequences, n_symbols +
    n_distractors) one-hot inputs, `y` int64 (n_sequences,) classes,
    `n_classes` = n_symbols ** len(interval_positions), `input_size`.
    """
    n_symbols = _as_int("n_symbols", n_symbols, 1)
    n_distractors = _as_int("n_distractors", n_distractors, 1)
    seq_len = _as_int("seq_len", seq_len, 1)
    n_sequences = _as_int("n_sequences", n_sequences, 1)
    seed = _as_int("seed", seed, 0)
    if seed >= 2 ** 32:
        raise ValueError(f"seed must be < 2**32 (NumPy RandomState), got {seed}")
    intervals = _check_windows(interval_positions, seq_len)
    n_classes = n_symbols ** len(intervals)
    if n_classes > np.iinfo(np.int64).max:
        raise ValueError(f"{n_classes} classes do not fit in int64 labels")

    distractors, positions, symbols = _draws(n_symbols, n_distractors, intervals,
                                             seq_len, n_sequences, seed)
    input_size = n_symbols + n_distractors
    u = np.zeros((seq_len, n_sequences, input_size), dtype=np.float32)
    b = np.arange(n_sequences)
    u[np.arange(seq_len)[:, None], b, n_symbols + distractors.T] = 1
    y = np.zeros(n_sequences, dtype=np.int64)
    for i, (p, s) in enumerate(zip(positions, symbols)):
        u[p, b, n_symbols:] = 0  # the relevant symbol replaces the distractor
        u[p, b, s] = 1
        y += s * n_symbols ** (len(intervals) - i - 1)
    return {"u": torch.as_tensor(u, device=device),
            "y": torch.as_tensor(y, device=device),
            "n_classes": n_classes, "input_size": input_size}


def _draws(n_symbols, n_distractors, intervals, seq_len, n_sequences, seed,
           n_words=None):
    """The old code's draws: distractors (n_sequences, seq_len) and, per
    window, positions and symbols (n_sequences,), all int64.

    `n_words` is the first guess of how many raw words are needed (tests make
    it tiny to exercise the retry).
    """
    def expected_words(size):  # mean words one randint(size) takes
        return 0 if size == 1 else (1 << (size - 1).bit_length()) / size

    if n_words is None:
        per_sequence = seq_len * expected_words(n_distractors) + sum(
            expected_words(end - start) + expected_words(n_symbols)
            for start, end in intervals)
        n_words = int(1.1 * per_sequence * n_sequences) + 1024
    while True:
        words = np.random.RandomState(seed).randint(2 ** 32, size=n_words, dtype=np.uint32)
        out = _replay(words, n_symbols, n_distractors, intervals, seq_len, n_sequences)
        if out is not None:
            return out
        n_words *= 2  # ran out of words: start again with more


def _replay(words, n_symbols, n_distractors, intervals, seq_len, n_sequences):
    """Replay all draws on `words`; None if they do not suffice.

    A position is the index of the next unused word, 0..len(words); the
    extra position len(words) + 1 means "ran out".
    """
    ranges = {}

    def bounded(size):
        if size not in ranges:
            ranges[size] = _Bounded(words, size, seq_len)
        return ranges[size]

    distractor = bounded(n_distractors)
    calls = [(bounded(end - start), bounded(n_symbols)) for start, end in intervals]

    # Where each sequence's draws start. This is the one sequential part
    # (rejections make it depend on the words), so walk it with a few scalar
    # look-ups per sequence; every draw is then read off at once below.
    start = np.empty(n_sequences, dtype=np.int64)
    pos = 0
    for b in range(n_sequences):
        start[b] = pos
        pos = distractor.skip(pos, seq_len)
        for where, symbol in calls:
            pos = symbol.skip(where.skip(pos, 1), 1)
    if pos > len(words):
        return None

    distractors, pos = distractor.draw(start, seq_len)
    positions, symbols = [], []
    for (first, _), (where, symbol) in zip(intervals, calls):
        p, pos = where.draw(pos, 1)
        s, pos = symbol.draw(pos, 1)
        positions.append(first + p[:, 0])
        symbols.append(s[:, 0])
    return distractors, positions, symbols


class _Bounded:
    """Legacy `randint(size)` replayed on a block of raw 32-bit words, for
    runs of at most `max_run` draws."""

    def __init__(self, words, size, max_run):
        self.size = size
        if size == 1:
            return  # randint of a single value takes no word
        mask = (1 << (size - 1).bit_length()) - 1
        values = (words & np.uint32(mask)).astype(np.int64)
        ok = values < size
        n = len(words)
        # Index n holds a dummy value; draws that run out of words land there.
        self.values = np.append(values, 0)
        self.accepted = np.append(np.flatnonzero(ok), np.full(max_run, n))
        counts = np.cumsum(ok)
        # Accepted words before each position 0..n + 1.
        self.before = np.concatenate([[0], counts, counts[-1:]])

    def skip(self, pos, count):
        """Position after `count` draws from each position in `pos`."""
        if self.size == 1:
            return pos
        return self.accepted[self.before[pos] + (count - 1)] + 1

    def draw(self, pos, count):
        """Values (len(pos), count) of `count` draws from each position, and
        the position after them."""
        if self.size == 1:
            return np.zeros((len(pos), count), dtype=np.int64), pos
        idx = self.accepted[self.before[pos][:, None] + np.arange(count)]
        return self.values[idx], idx[:, -1] + 1


def _as_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _int_list(name, value, minimum):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return [_as_int(name, value, minimum)]
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer or a list of integers, got {value!r}") from None
    if not items:
        raise ValueError(f"{name} must not be empty")
    return [_as_int(name, v, minimum) for v in items]


def _check_windows(interval_positions, seq_len):
    try:
        intervals = [tuple(w) for w in interval_positions]
    except TypeError:
        raise ValueError("interval_positions must be a list of (start, end) pairs, "
                         f"got {interval_positions!r}") from None
    if not intervals:
        raise ValueError("interval_positions must hold at least one window")
    checked = []
    for w in intervals:
        if len(w) != 2:
            raise ValueError(f"each window must be a (start, end) pair, got {w!r}")
        start = _as_int("window start", w[0], 0)
        end = _as_int("window end", w[1], 0)
        if not start < end <= seq_len:
            raise ValueError(f"window {w!r} must satisfy 0 <= start < end <= seq_len "
                             f"= {seq_len} (end exclusive)")
        checked.append((start, end))
    ordered = sorted(checked)
    for (s0, e0), (s1, e1) in zip(ordered, ordered[1:]):
        if s1 < e0:
            raise ValueError(f"windows {(s0, e0)} and {(s1, e1)} overlap")
    return checked
