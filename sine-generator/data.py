"""Sine-wave data: constant input w, target sin(w t)."""
import numpy as np
import torch

N_ORBIT_INPUTS = 10


def data_generator(min_freq, max_freq, n_sequences, seq_len, device):
    """Input ``u[t, i, 0] = w_i`` and target ``y = sin(cumsum_t u)``, each
    ``(seq_len, n_sequences, 1)`` float32, computed in float64 first so the
    numbers match the old code bit for bit."""
    freqs = np.linspace(min_freq, max_freq, n_sequences)
    u = np.broadcast_to(freqs[None, :, None], (seq_len, n_sequences, 1))
    y = np.sin(np.cumsum(u, axis=0))
    return {"u": torch.tensor(u, dtype=torch.float32, device=device),
            "y": torch.tensor(y, dtype=torch.float32, device=device),
            "freqs": freqs}


def orbit_inputs(device):
    """The constant inputs of the orbit diagram: 10 frequencies in [pi/16, pi/8]."""
    freqs = np.linspace(np.pi / 16, np.pi / 8, N_ORBIT_INPUTS)
    return torch.tensor(freqs, dtype=torch.float32, device=device).reshape(-1, 1)


def batches(data, batch_size):
    """``(u, y)`` slices of ``batch_size`` sequences, in order, no shuffling
    (the sequences are the second dimension from the end, so that a
    population's data, with a leading copy dimension, slices alike)."""
    n = data["u"].shape[-2]
    for start in range(0, n, batch_size):
        end = start + batch_size
        yield data["u"][..., start:end, :], data["y"][..., start:end, :]
