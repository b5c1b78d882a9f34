"""The generated hostile suite, files: every file a run writes (config,
history.csv, model.pth, checkpoint.pth, the orbit file, the orbit samples
file) damaged at every region (its header, each stored tensor or part,
its tail), truncated, emptied and replaced by each other kind of file. Each
reader refuses it in one line naming the file, or reads exactly what was
written (a flip in padding); through each file's command, one line, exit
status 2, nothing already written changed (docs/errors.md). A flip inside
any stored tensor of model.pth and checkpoint.pth (weights, optimiser state,
random-number states) is found by the checksum."""
import io
import os
import pickletools
import shutil
import struct
import zipfile

import pytest

from attractors.options import UsageError
from attractors.orbit import SamplesFile
from attractors.run_files import (RunFolderError, content_digest, load_checkpoint_file,
                                  load_orbit_file, read_config, read_history)
from attractors.tasks import load_run
from conftest import ROOT, TINY_SINE, load_script
from hostile_tools import run_command, snapshot

KINDS = {"config": "train.pyconfig.json", "history": "history.csv", "model": "model.pth",
         "checkpoint": "checkpoint.pth", "orbit": "orbit_per_epoch_diagram.pth",
         "samples": "orbit_samples.bin"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny sine run with orbit samples (5 epochs)."""
    base = tmp_path_factory.mktemp("files")
    train = load_script("sine-generator/train.py")
    return train.main(TINY_SINE + ["--epochs", "5", "--folder", str(base / "run")])


def read(kind, folder):
    """What the project's reader of ``kind`` makes of the file, as plain
    comparable data; raises its one-line error when it refuses it."""
    path = os.path.join(folder, KINDS[kind])
    if kind == "config":
        return read_config(folder)
    if kind == "history":
        return read_history(folder, ("epoch", "loss"), rows=True).to_dict()
    if kind == "model":
        task, model, saved = load_run(folder, [str(ROOT)])
        return content_digest({k: v for k, v in saved.items()})
    if kind == "checkpoint":
        return content_digest(load_checkpoint_file(folder))
    if kind == "orbit":
        trajectory, interval = load_orbit_file(path)
        return trajectory.tobytes(), interval
    checkpoint = load_checkpoint_file(folder)["orbit"]
    samples = SamplesFile(path).read(checkpoint["n_samples"], checkpoint["crc32"])
    return [s.numpy().tobytes() for s in samples]


def zip_members(data):
    """``(name, start, size)`` of each member's bytes in a PyTorch file, and
    the extra-field (padding) bytes before them."""
    members = []
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
        n, e = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
        start = info.header_offset + 30 + n + e
        members.append((info.filename.split("/", 1)[-1], start, info.file_size,
                        info.header_offset + 30 + n, e))
    return members


def flip(data, at):
    data = bytearray(data)
    data[at] ^= 0xFF
    return bytes(data)


def meaningful_byte(pickled, at):
    """The first byte from ``at`` on that is not the argument of a memo
    opcode: flipping that argument only stores an object under another
    number, and the file still holds what was written."""
    for op, _, pos in pickletools.genops(pickled):
        end = pos + 1 + (op.arg.n if op.arg is not None and op.arg.n > 0 else 0)
        if end > at and "PUT" not in op.name:
            return max(at, pos)
    return at


def damaged_versions(kind, data, others):
    """``(label, bytes)``: the file flipped in each region, truncated,
    emptied, and replaced by each other kind of file."""
    versions = [("header", flip(data, 0)), ("header+3", flip(data, 3)),
                ("middle", flip(data, len(data) // 2)), ("tail", flip(data, len(data) - 1)),
                ("tail-20", flip(data, max(0, len(data) - 20)))]
    if data.startswith(b"PK"):
        for name, start, size, _, _ in zip_members(data):
            if size:
                at = size // 2
                if name == "data.pkl":
                    at = meaningful_byte(data[start:start + size], at)
                versions.append((f"member {name}", flip(data, start + at)))
    versions += [(f"truncated to {n}", data[:n]) for n in sorted({len(data) // 2,
                                                                   len(data) // 10, 1})]
    versions += [("empty", b"")] + [(f"replaced by {k}", v) for k, v in others.items()
                                    if k != kind]
    return versions


def assert_refused_or_same(kind, folder, original, label):
    try:
        got = read(kind, folder)
    except (RunFolderError, UsageError) as e:
        message = str(e)
        assert "\n" not in message and KINDS[kind] in message, (kind, label, message)
        return "refused"
    if kind == "history" and label.startswith("truncated") and got != original:
        # cut at the end of a row: the history of fewer epochs, as a crash leaves it
        assert all(list(got[c].values()) == list(original[c].values())[:len(got[c])]
                   for c in got), label
        return "fewer rows"
    assert got == original, f"{kind} {label}: read as something else than was written"
    return "same"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_damage_to_every_file_is_refused_or_harmless(run, kind, tmp_path):
    originals = {k: open(os.path.join(run, name), "rb").read() for k, name in KINDS.items()}
    original = read(kind, run)
    outcomes = {}
    for label, data in damaged_versions(kind, originals[kind], originals):
        folder = tmp_path / "run"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(run, folder)
        (folder / KINDS[kind]).write_bytes(data)
        outcomes[label] = assert_refused_or_same(kind, str(folder), original, label)
    # what must be refused: any change to what the file holds
    must = [label for label in outcomes if label.startswith(("empty", "replaced", "member data"))
            or label.startswith("truncated") and kind != "history"]
    assert all(outcomes[label] == "refused" for label in must), outcomes


@pytest.mark.parametrize("name", ["model.pth", "checkpoint.pth"])
def test_a_flip_inside_any_stored_tensor_is_found_by_the_checksum(run, name, tmp_path):
    data = open(os.path.join(run, name), "rb").read()
    kind = "model" if name == "model.pth" else "checkpoint"
    original = read(kind, run)
    tensors = [m for m in zip_members(data) if m[0].startswith("data/")]
    # weights, Adam's moments and steps, the random-number states: each a stored tensor
    assert len(tensors) >= (8 if kind == "model" else 10), tensors
    for member, start, size, padding, padding_size in tensors:
        for at in sorted({start, start + size // 2, start + size - 1}):
            folder = tmp_path / "run"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(run, folder)
            (folder / name).write_bytes(flip(data, at))
            with pytest.raises((RunFolderError, UsageError), match="is damaged"):
                read(kind, str(folder))
        if padding_size:   # the archive's alignment padding: the contents are unchanged
            (folder / name).write_bytes(flip(data, padding + padding_size - 1))
            assert assert_refused_or_same(kind, str(folder), original, "padding") in (
                "same", "refused")


COMMANDS = {   # the command that reads each kind of file, given the run folder
    "config": ["sine-generator/train.py", "--resume", "{run}", "--epochs", "7"],
    "checkpoint": ["sine-generator/train.py", "--resume", "{run}", "--epochs", "7"],
    "samples": ["sine-generator/train.py", "--resume", "{run}", "--epochs", "7"],
    "model": ["analyse_attractors.py", "{run}", "--n_starts", "2", "--steps", "20", "--record",
              "10", "--lyapunov_steps", "5", "-o", "{out}"],
    "orbit": ["plot_orbit_diagram.py", "{run}/orbit_per_epoch_diagram.pth", "-o", "{out}/o.png"],
    "history": ["plot_training_dynamics.py", "{run}", "-o", "{out}/d.png"],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_damaged_file_through_its_command_is_one_line_and_changes_nothing(run, kind,
                                                                            tmp_path):
    originals = {k: open(os.path.join(run, name), "rb").read() for k, name in KINDS.items()}
    data = originals[kind]
    members = zip_members(data) if data.startswith(b"PK") else []
    tensor = [m for m in members if m[0].startswith("data/")]
    cases = [("truncated", data[: len(data) // 2]), ("empty", b""),
             ("other", originals["config" if kind != "config" else "model"])]
    if tensor:
        cases.append(("tensor", flip(data, tensor[-1][1] + tensor[-1][2] // 2)))
    else:
        cases.append(("middle", flip(data, len(data) // 2)))
    for label, damaged in cases:
        folder, out = tmp_path / label / "run", tmp_path / label / "out"
        shutil.copytree(run, folder)
        (folder / KINDS[kind]).write_bytes(damaged)
        before = snapshot(folder)
        args = [a.format(run=folder, out=out) for a in COMMANDS[kind]]
        line = run_command(*args).one_line(2)
        assert KINDS[kind] in line, (kind, label, line)
        assert snapshot(folder) == before and not out.exists(), (kind, label)
