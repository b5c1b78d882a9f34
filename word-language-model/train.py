"""Train a word-level recurrent language model on WikiText-2 (or LAMBADA)."""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (COUNT, add_optimiser_options, add_run_options, build_parser,
                                check_memory, check_orbit_options, estimate_training_bytes,
                                input_folder, only_when, parse_options, run_cli, select_device,
                                Integer, Number, UsageError)
import hashlib
import math
import os

import torch
from tqdm import tqdm

from attractors.orbit import add_orbit_options
from attractors.rnn import add_rnn_options, check_rnn_options
from attractors.run_files import load_model_file
from attractors.tasks import import_sibling
from attractors.training import Trainer

data = import_sibling(__file__, "data")
model_py = import_sibling(__file__, "model")
evaluation = import_sibling(__file__, "evaluation")
WordLanguageModel = model_py.WordLanguageModel
# The loss of a whole window, written over its logits (the largest tensor by far).
cross_entropy_sum_ = model_py.cross_entropy_sum_

DESCRIPTION = "Train a recurrent word-level language model on WikiText-2 (or LAMBADA)."
COLUMNS = ["Epoch", "Train Loss", "Valid Loss", "Valid PPL", "Learning Rate"]
DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wikitext-2")
MODEL_KWARGS = ("embed_size", "hidden_size", "rnn_type", "num_layers", "dropout",
                "tied_weights", "K", "init")


def add_config_options(group):
    group.add_argument("--batch_size", type=COUNT, default=100, help="batch size")
    group.add_argument("--epochs", type=COUNT, default=100, help="maximum number of epochs")
    add_optimiser_options(group)
    add_run_options(group)
    group.add_argument("--embed_size", type=COUNT, default=800, help="word embedding size")
    group.add_argument("--tied_weights", action="store_true",
                       help="share the embedding and decoder weights "
                            "(needs embed_size == hidden_size)")
    add_rnn_options(group, hidden_size=800)
    group.add_argument("--seq_len", type=COUNT, default=70,
                       help="steps per window of truncated back-propagation")
    group.add_argument("--patience", type=Integer(0, 10 ** 6), default=7,
                       help="epochs without improvement of the validation loss before "
                            "the learning rate is reduced")
    group.add_argument("--min_lr", type=Number(0, 1e6, low_open=True), default=1e-7,
                       help="training stops once the learning rate drops below this")
    group.add_argument("--lr_factor", type=Number(0, 1, low_open=True, high_open=True),
                       default=0.1,
                       help="factor applied to the learning rate on a plateau")
    group.add_argument("--dropout", type=Number(0, 1, high_open=True), default=0.5,
                       help="dropout on the embeddings and on the RNN outputs")
    group.add_argument("--lambada", action="store_true",
                       help="train on the LAMBADA novels and score the last word of its "
                            "passages (--data must then hold LAMBADA)")
    add_orbit_options(group, interval_save=3, n_sequences=5, seq_len=1600, burnout=0)
    only_when(group.add_argument(
        "--orbit_use_feedback", action="store_true",
        help="also record the orbit of the model fed its own most likely word (doubles the "
             "recorded outputs)"),
        "with --interval_orbit N (N >= 1)", lambda c: c["interval_orbit"] >= 1,
        {"interval_orbit": -1}, refuse=False)


def add_data_options(group):
    group.add_argument("--data", default=DEFAULT_DATA,
                       type=input_folder(hint="python download.py DIR fetches WikiText-2"),
                       help="corpus folder: train.txt, valid.txt and test.txt of WikiText-2 "
                            "(with --lambada, the unpacked LAMBADA files)")
    group.add_argument("--corpus", action="store_true",
                       help="tokenise the text again instead of using the cached corpus")
    group.add_argument("--verbose", type=Integer(0, 2), default=1,
                       help="0: quiet; 1: a line per epoch; 2: also a progress bar per epoch")


def parse(argv=None):
    parser, config_dests = build_parser(add_config_options, DESCRIPTION, prog="train.py",
                                        add_extra_system=add_data_options)
    config, system = parse_options(parser, config_dests, argv)
    if config["tied_weights"] and config["embed_size"] != config["hidden_size"]:
        raise UsageError(f"--tied_weights needs embed_size == hidden_size "
                         f"(got {config['embed_size']} and {config['hidden_size']})")
    check_orbit_options(config)
    check_rnn_options(config)
    return config, system


def read_corpus(system, config):
    """The corpus, or a one-line usage error when its files are missing."""
    try:
        corpus = data.load_corpus(system.data, rebuild=system.corpus, lambada=config["lambada"])
    except data.DatasetError as e:
        raise UsageError(str(e)) from None
    if system.verbose >= 1:
        print(f"Corpus {os.path.abspath(system.data)}: {len(corpus.dictionary)} words, "
              f"{corpus.train.numel()} training tokens"
              f"{' (cached)' if corpus.from_cache else ''}"
              + "".join(f", {k} {v}" for k, v in corpus.stats.items()))
    return corpus


def fingerprint(corpus, folder):
    """What a resumed run checks: the same vocabulary and training text."""
    digest = hashlib.sha1(str(len(corpus.dictionary)).encode())
    digest.update(corpus.train.numpy().tobytes())
    return {"sha1": digest.hexdigest(),
            "about": f"{os.path.abspath(folder)}: {len(corpus.dictionary)} words, "
                     f"{corpus.train.numel()} training tokens"}


def batchify_or_fail(tokens, batch_size, what, device):
    try:
        return data.batchify(tokens, batch_size).to(device)
    except ValueError as e:
        raise UsageError(f"{what} set: {e}") from None


def train_epoch(model, source, seq_len, trainer, optimizer, stabilize, progress=False):
    """One pass of truncated back-propagation over a batchified ``source``.

    Each column starts from a zero state; the state reached at the end of a
    window starts the next one, detached so that gradients stay within a
    window. The step is taken on the window's summed cross-entropy (the
    original code clipped and stepped on the sum, not the mean). Returns the
    mean cross-entropy per predicted token.

    An epoch takes minutes, so a stop (Ctrl-C, preemption) does not wait for
    its end: the trainer checkpoints after the current window, with the state
    and the running sum, and the resumed run continues from the next window.
    """
    model.train()
    state = model.rnn.initial_state(source.size(1), source.device)
    total = torch.zeros((), device=source.device)
    first, resumed = 0, trainer.within_epoch()
    if resumed is not None:                           # continue a stopped epoch
        done, carry = resumed
        first, state, total = done + 1, carry["state"], carry["total"]
    n_windows = math.ceil((source.size(0) - 1) / seq_len)
    windows = data.iter_batches(source, seq_len, first)
    if progress:
        windows = tqdm(windows, total=n_windows, initial=first, desc="train", unit="batch",
                       leave=False, dynamic_ncols=True)
    for i, (inp, target) in enumerate(windows, first):
        logits, state = model(inp, model_py.detach_state(state))
        loss = cross_entropy_sum_(logits, target)     # the logits become its gradient
        del logits    # freed with the graph, before the next window's logits exist
        if trainer.backward(loss):                    # clipped; False: skip (--on_nan)
            optimizer.step()
            if stabilize:
                model.rnn.stabilize_()                # back onto the stable set
        total += loss.detach()
        trainer.end_step(i, state=state, total=total)   # a stop asked for ends the run here
    return total / ((source.size(0) - 1) * source.size(1))


def current_lr(optimizer):
    return optimizer.param_groups[-1]["lr"]


def main(argv=None):
    config, system = parse(argv)
    device = select_device(system.cuda)
    corpus = read_corpus(system, config)   # before anything is written
    n_words = len(corpus.dictionary)
    bs = config["batch_size"]
    train_data = batchify_or_fail(corpus.train, bs, "training", device)
    if config["lambada"]:   # lists of passages, each scored on its last word
        valid_data, test_data = corpus.valid, corpus.test
    else:
        valid_data = batchify_or_fail(corpus.valid, bs, "validation", device)
        test_data = batchify_or_fail(corpus.test, bs, "test", device)
    # With the vocabulary known: the embedding, decoder and a window's logits.
    window = min(config["seq_len"], train_data.size(0) - 1)
    check_memory(estimate_training_bytes(dict(config, seq_len=window), n_words), "this run")

    # Build in the old code's order (embedding, RNN, decoder, optimiser, then
    # the orbit's inputs, projections and initial states) so that a seed gives
    # the same numbers.
    torch.manual_seed(config["seed"])
    model_kwargs = {"n_words": n_words, **{k: config[k] for k in MODEL_KWARGS}}
    model = WordLanguageModel(**model_kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), config["lr"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config["lr_factor"], patience=config["patience"],
        min_lr=config["lr_factor"] * config["min_lr"])

    def score(data):
        # a stop asked for meanwhile ends the run, to resume with this evaluation
        if config["lambada"]:
            return evaluation.evaluate_passages(model, data, bs, device, trainer.check_stop)
        return evaluation.evaluate(model, data, config["seq_len"], trainer.check_stop)

    orbit = None
    if config["interval_orbit"] >= 1:
        orbit = model_py.make_orbit_sampler(model, corpus.dictionary, config, device)
        if system.verbose >= 1:
            print(f"Orbit outputs ({len(orbit.labels)}): {', '.join(orbit.labels)}")
    # The trainer makes the run folder (or resumes it) and steps the scheduler.
    trainer = Trainer(system, model, optimizer, config, "word-language-model", model_kwargs,
                      columns=COLUMNS, monitor="Valid Loss", save="best", orbit=orbit,
                      scheduler=scheduler, quiet=system.verbose == 0,
                      data=fingerprint(corpus, system.data))
    if system.resume and current_lr(optimizer) < config["min_lr"]:
        trainer.finish()
        raise UsageError(f"{trainer.folder} already stopped: its learning rate is below "
                         f"min_lr ({config['min_lr']})")
    for epoch in trainer.epochs():
        lr = current_lr(optimizer)
        train_loss = train_epoch(model, train_data, config["seq_len"], trainer, optimizer,
                                 config["stabilize"], progress=system.verbose >= 2)
        valid_loss = score(valid_data)
        losses = {"train_loss": train_loss, "val_loss": valid_loss}
        if trainer.improves(valid_loss):
            # The trainer saves this epoch's model: score it on the test set too.
            losses["test_loss"] = score(test_data)
        # After the scores (a stop during them resumes before this sample;
        # neither changes the weights or draws random numbers).
        if orbit is not None and (epoch + 1) % config["interval_orbit"] == 0:
            orbit.sample()                            # the orbit diagram at this epoch
        row = {"Epoch": epoch, "Train Loss": train_loss, "Valid Loss": valid_loss,
               "Valid PPL": torch.exp(valid_loss), "Learning Rate": lr}
        line = (f"Epoch {epoch:3d}  train loss {float(train_loss):.4f}  valid loss "
                f"{float(valid_loss):.4f}  valid ppl {float(row['Valid PPL']):9.2f}  lr {lr:.2e}"
                + ("  (saved, test loss {:.4f})".format(float(losses["test_loss"]))
                   if "test_loss" in losses else ""))
        trainer.end_epoch(epoch, row, losses, line)
        if system.verbose >= 1 and not trainer.lines:
            trainer.write(line)
        if current_lr(optimizer) < config["min_lr"]:
            trainer.stop_early(epoch, f"The learning rate fell below min_lr ({config['min_lr']})")
            break
    trainer.finish()
    report_best(trainer.folder)
    return trainer.folder


def report_best(folder):
    if os.path.isfile(os.path.join(folder, "model.pth")):
        best = load_model_file(folder)
        print(f"Best model (epoch {best['epoch']}): valid loss {float(best['val_loss']):.4f}, "
              f"test loss {float(best['test_loss']):.4f}, "
              f"test ppl {float(torch.exp(torch.as_tensor(best['test_loss']))):.2f}")
    print(f"Run saved to {folder}")


if __name__ == "__main__":
    run_cli(main)
