"""Training losses of the temporal-order and language-model tasks for the
smoothness analysis (the sine task's lives in :mod:`attractors.smoothness`).
They evaluate one model at a time (``batched = False``): a loop over the
points of the line, under ``torch.no_grad``."""
import torch
import torch.nn.functional as F

from .runs import RunFolderError
from .smoothness import TaskLoss, load_model, load_task_module, register_task


def scaled_windows(config, seq_len):
    """The run's symbol windows moved to the same relative positions in a
    sequence of ``seq_len`` steps (each at least one step long)."""
    starts = config["position_symbols_start"]
    lens = config["position_symbols_len"]
    lens = lens * len(starts) if len(lens) == 1 else lens
    ratio = seq_len / config["seq_len"]
    windows = []
    for start, length in zip(starts, lens):
        a = int(start * ratio)
        windows.append((a, a + max(1, int(length * ratio))))
    return windows


@register_task("temporal-order")
class TemporalOrderLoss(TaskLoss):
    """Summed cross-entropy of the last step over the training sequences,
    divided by their number (the ``train loss`` of ``history.csv``). For
    another length the windows keep their relative positions."""

    def __init__(self, checkpoint, device="cpu", dtype=torch.float64, **options):
        model_py = load_task_module("sequence-classification", "model")
        self.data_py = load_task_module("sequence-classification", "data")
        super().__init__(load_model(model_py.SequenceClassifier, checkpoint, device, dtype))
        self.config, self.device, self.dtype = checkpoint["config"], device, dtype
        self._data = {}

    def data(self, seq_len):
        if seq_len not in self._data:
            c = self.config
            try:
                data = self.data_py.data_generator(
                    c["n_symbols"], c["n_distractors"], scaled_windows(c, seq_len), seq_len,
                    c["n_sequences"], c["seed"], self.device)
            except ValueError as e:
                raise RunFolderError(f"no temporal-order data of length {seq_len}: {e}") from None
            self._data[seq_len] = (data["u"].to(self.dtype), data["y"])
        return self._data[seq_len]

    @torch.no_grad()
    def loss(self, seq_len):
        u, y = self.data(seq_len)
        logits, _ = self.model(u)
        return float(F.cross_entropy(logits[-1], y, reduction="sum")) / y.numel()


@register_task("word-language-model")
class LanguageModelLoss(TaskLoss):
    """Mean cross-entropy per word of one window of ``seq_len`` steps at the
    start of the training text, cut into ``batch_size`` columns (at most
    ``max_columns``), from a zero state, without dropout. Needs the corpus:
    ``data`` (the ``--data`` folder of the run)."""

    def __init__(self, checkpoint, device="cpu", dtype=torch.float64, data=None,
                 max_columns=20, **options):
        model_py = load_task_module("word-language-model", "model")
        data_py = load_task_module("word-language-model", "data")
        super().__init__(load_model(model_py.WordLanguageModel, checkpoint, device, dtype))
        config = checkpoint["config"]
        if data is None:
            raise RunFolderError("the language-model loss needs the corpus: pass --data DIR")
        try:
            corpus = data_py.load_corpus(data, lambada=config.get("lambada", False))
        except (data_py.DatasetMissing, OSError) as e:
            raise RunFolderError(str(e)) from None
        if len(corpus.dictionary) != self.model.n_words:
            raise RunFolderError(f"{data} has {len(corpus.dictionary)} words, the model "
                                 f"{self.model.n_words}: not the corpus of this run")
        self.columns = data_py.batchify(corpus.train, min(config["batch_size"], max_columns))
        self.device = device

    @torch.no_grad()
    def loss(self, seq_len):
        if seq_len + 1 > self.columns.shape[0]:
            raise RunFolderError(f"the training text is too short for windows of {seq_len}")
        window = self.columns[:seq_len + 1].to(self.device)
        logits, _ = self.model(window[:-1])
        return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     window[1:].reshape(-1)))

