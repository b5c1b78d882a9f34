"""The pieces of a training loop every task shares: the optimiser step, the
epoch loop with its progress bar, and what happens at the end of an epoch
(orbit sample, model checkpoint, history row)."""
import os

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm import tqdm

from .files import CONFIG_FILE, HISTORY_FILE, MODEL_FILE, History, save_torch, write_json
from .options import default_folder
from .orbit import ORBIT_FILE


def optimiser_options(group, lr=0.001, clip_value=0.25, seed=2):
    group.add_argument("--lr", type=float, default=lr, help="learning rate")
    group.add_argument("--clip_value", type=float, default=clip_value,
                       help="maximum norm of the gradient")
    group.add_argument("--seed", type=int, default=seed, help="random seed")


def create_run_folder(folder, config):
    """Make the output folder (default ``./output-<date>``) and save the config."""
    folder = folder or default_folder()
    os.makedirs(folder, exist_ok=True)
    write_json(config, os.path.join(folder, CONFIG_FILE))
    return folder


class Trainer:
    """Runs the epochs of one training run and writes its folder.

    ``save`` is ``"best"`` (keep the model with the lowest ``monitor``
    value) or ``"last"``. ``orbit`` is an :class:`OrbitSampler` or None.
    """

    def __init__(self, folder, model, optimizer, config, experiment_name, model_kwargs,
                 columns, monitor, save="best", orbit=None, desc=None):
        self.folder = folder
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.experiment_name = experiment_name
        self.model_kwargs = model_kwargs
        self.monitor = monitor
        self.save = save
        self.orbit = orbit
        self.best = float("inf")
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.history = History(os.path.join(folder, HISTORY_FILE), columns)
        self.progress = tqdm(range(config["epochs"]), desc=desc or experiment_name,
                             unit="epoch", dynamic_ncols=True, mininterval=0.5)
        model.rnn.attach_optimizer(optimizer)

    def epochs(self):
        return iter(self.progress)

    def step(self, loss):
        """Back-propagate ``loss`` and take one clipped optimiser step."""
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(self.params, self.config["clip_value"])
        self.optimizer.step()
        if self.config.get("stabilize"):
            self.model.rnn.stabilize_()

    def end_epoch(self, epoch, row, losses=None):
        """Orbit sample, checkpoint and history row, in the old code's order.
        ``losses`` (default: ``row``) go into ``model.pth`` beside the weights."""
        self._orbit_after(epoch)
        value = float(row[self.monitor])
        if self.save == "last" or value < self.best:
            self.best = min(self.best, value)
            self.save_model(epoch, losses if losses is not None else row)
        self.history.append(row)
        self.progress.set_postfix({self.monitor: f"{value:.4g}"}, refresh=False)

    def _orbit_after(self, epoch):
        if self.orbit is None:
            return
        every = self.config["interval_orbit"]
        if epoch % every == every - 1:
            self.orbit.sample()
        save_every = self.config["interval_save_orbit"]
        if len(self.orbit) and epoch % save_every == save_every - 1:
            self.save_orbit()

    def save_orbit(self):
        self.orbit.save(os.path.join(self.folder, ORBIT_FILE), self.config["interval_orbit"])

    def save_model(self, epoch, losses):
        checkpoint = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "model_kwargs": dict(self.model_kwargs),
            "optimizer": self.optimizer.state_dict(),
            **{k: _plain(v) for k, v in losses.items() if k != "epoch"},
            "config": dict(self.config),
            "experiment_name": self.experiment_name,
        }
        save_torch(checkpoint, os.path.join(self.folder, MODEL_FILE))

    def finish(self):
        """Write the last orbit samples and close the progress bar."""
        if self.orbit is not None and len(self.orbit):
            self.save_orbit()
        self.progress.close()


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return value
