"""The word-level language model, as the analysis tools see it (see attractors.tasks)."""
import torch
import torch.nn.functional as F

from attractors.run_files import RunFolderError
from attractors.smoothness import TaskLoss
from attractors.tasks import Task, import_sibling

data = import_sibling(__file__, "data")
model = import_sibling(__file__, "model")


class LanguageModelLoss(TaskLoss):
    """Mean cross-entropy per word of one window of ``seq_len`` steps at the
    start of the training text, cut into ``batch_size`` columns (at most
    ``max_columns``), from a zero state, without dropout. Needs the corpus
    folder the run was trained on. One model at a time."""

    def __init__(self, net, config, corpus_folder, max_columns=20):
        super().__init__(net, config)
        if corpus_folder is None:
            raise RunFolderError("the language-model loss needs the corpus: pass --data DIR")
        try:
            corpus = data.load_corpus(corpus_folder, lambada=config.get("lambada", False))
        except (data.DatasetError, OSError) as e:
            raise RunFolderError(str(e)) from None
        if len(corpus.dictionary) != net.n_words:
            raise RunFolderError(f"{corpus_folder} has {len(corpus.dictionary)} words, the "
                                 f"model {net.n_words}: not the corpus of this run")
        self.columns = data.batchify(corpus.train, min(config["batch_size"], max_columns))

    @torch.no_grad()
    def loss(self, seq_len):
        if seq_len + 1 > self.columns.shape[0]:
            raise RunFolderError(f"the training text is too short for windows of {seq_len}")
        window = self.columns[:seq_len + 1].to(self.device)
        logits, _ = self.model(window[:-1])
        return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     window[1:].reshape(-1)))


class LanguageModelTask(Task):
    name = "word-language-model"
    model_class = model.WordLanguageModel

    def constant_inputs(self, net, config, options):
        """The embedding of each of ``options.word_ids``."""
        word_ids = list(getattr(options, "word_ids", None) or [0, 1])
        ids = torch.tensor(word_ids, device=net.encoder.weight.device)
        if ids.max() >= net.encoder.num_embeddings or ids.min() < 0:
            raise RunFolderError(f"word ids must be in 0..{net.encoder.num_embeddings - 1} "
                                 "(the vocabulary)")
        with torch.no_grad():
            return [f"word id {i}" for i in word_ids], net.encoder(ids)

    def smoothness_loss(self, net, config, options):
        return LanguageModelLoss(net, config, getattr(options, "data", None))


TASK = LanguageModelTask()
