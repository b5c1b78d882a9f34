"""The task plug-in: each task folder's files load under names of their own,
so several tasks live in one process; runs find their task from model.pth."""
import hashlib
import os
import sys

import pytest
import torch

from attractors.run_files import RunFolderError
from attractors.tasks import Task, find_task, import_sibling, load_task, task_folders
from conftest import ROOT, TINY_SINE, load_script, task_files

TASKS = {"sine-generator": "SineGenerator", "sequence-classification": "SequenceClassifier",
         "word-language-model": "WordLanguageModel"}


def test_three_tasks_coexist_in_one_process():
    loaded = {folder: task_files(folder) for folder in TASKS}
    for folder, model_class in TASKS.items():
        files = loaded[folder]
        assert hasattr(files.model, model_class)          # its own model.py ...
        assert files.train.data is files.data             # ... and train.py sees its own data.py
        assert files.task.TASK.model_class is getattr(files.model, model_class)
        assert os.path.dirname(files.data.__file__) == str(ROOT / folder)
    names = [loaded[f].data.__name__ for f in TASKS]
    assert len(set(names)) == 3 and all(n in sys.modules for n in names)
    assert "data" not in sys.modules and "model" not in sys.modules   # no bare names taken
    # Loading again gives the same module objects, not copies.
    assert load_script("sine-generator/data.py") is loaded["sine-generator"].data


def test_the_core_names_no_task():
    for path in (ROOT / "attractors").rglob("*.py"):
        text = path.read_text()
        for folder in TASKS:
            assert folder not in text, f"{path.relative_to(ROOT)} names {folder}"


def test_task_folders_are_found_and_described():
    found = {os.path.basename(f) for f in task_folders([str(ROOT)])}
    assert found == set(TASKS)
    names = {load_task(str(ROOT / f)).name for f in TASKS}
    assert names == {"sine-generator", "temporal-order", "word-language-model"}
    assert find_task("temporal-order", [str(ROOT)]).folder == str(ROOT / "sequence-classification")
    with pytest.raises(RunFolderError, match="no task folder describes 'nope'"):
        find_task("nope", [str(ROOT)])


def test_a_task_folder_of_ones_own_plugs_in(tmp_path, monkeypatch):
    folder = tmp_path / "my-task"
    folder.mkdir()
    (folder / "model.py").write_text("from torch import nn\nclass Net(nn.Linear):\n    pass\n")
    (folder / "task.py").write_text(
        "from attractors.tasks import Task, import_sibling\n"
        "model = import_sibling(__file__, 'model')\n"
        "class MyTask(Task):\n    name = 'mine'\n    model_class = model.Net\n"
        "TASK = MyTask()\n")
    monkeypatch.setenv("ATTRACTORS_TASK_PATH", str(tmp_path))
    task = find_task("mine", [str(ROOT)])
    net = task.build_model({"model_kwargs": {"in_features": 2, "out_features": 3},
                            "model": torch.nn.Linear(2, 3).state_dict()})
    assert isinstance(task, Task) and net.weight.dtype == torch.float64 and not net.training
    with pytest.raises(RunFolderError, match="cannot rebuild the saved model"):
        task.build_model({"model_kwargs": {"in_features": 2, "out_features": 4},
                          "model": torch.nn.Linear(2, 3).state_dict()})
    # import_sibling resolves beside the calling file, to the module already loaded
    assert import_sibling(str(folder / "task.py"), "model").Net is task.model_class


def test_train_py_loop_shows_the_method():
    for folder in TASKS:
        text = (ROOT / folder / "train.py").read_text()
        for piece in ("trainer.backward(loss)", "optimizer.step()", "stabilize_()",
                      "orbit.sample()"):
            assert piece in text, f"{folder}/train.py lacks {piece}"


def test_shipped_wikitext_is_the_published_one():
    download = load_script("word-language-model/download.py")
    for member, (name, sha256) in download.MEMBERS.items():
        data = (ROOT / "word-language-model" / "wikitext-2" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, name
    train = load_script("word-language-model/train.py")
    assert train.DEFAULT_DATA == str(ROOT / "word-language-model" / "wikitext-2")


def test_a_run_finds_its_task(sine, tmp_path):
    from attractors.tasks import load_run
    folder = sine.train.main(TINY_SINE + ["--folder", str(tmp_path / "run")])
    task, model, saved = load_run(folder, [str(ROOT)])
    assert task.name == "sine-generator" and saved["epoch"] == 2
    assert isinstance(model, sine.model.SineGenerator)
