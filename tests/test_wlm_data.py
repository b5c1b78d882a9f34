"""Data layer of the word-language-model: corpus, cache, batching, LAMBADA, download."""
import os
import pathlib
import random
import zipfile

import pytest
import torch

WLM = pathlib.Path(__file__).resolve().parents[1] / "word-language-model"


from conftest import load_script  # noqa: E402

data = load_script("word-language-model/data.py")
download = load_script("word-language-model/download.py")


def _write_corpus(folder, n_lines=300, seed=0):
    """A small WikiText-like corpus (a few thousand tokens) in folder."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)] + ["the", "of", ",", ".", "<unk>"]
    folder.mkdir(parents=True, exist_ok=True)
    for name in data.WIKITEXT_FILES:
        lines = []
        for _ in range(n_lines):
            k = rng.randint(0, 12)  # some empty lines, like WikiText
            lines.append(" " + " ".join(rng.choice(words) for _ in range(k)) + " \n")
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


def _reference(folder):
    """The plain line-by-line tokenisation the fast path must reproduce."""
    d = data.Dictionary()
    ids = {}
    for name in data.WIKITEXT_FILES:
        with open(folder / name, encoding="utf-8") as f:
            ids[name[:-4]] = [d.add_word(w) for line in f for w in line.split() + ["<eos>"]]
    return d, ids


# ---------------------------------------------------------------- dictionary and tokens

def test_dictionary_order_and_eos(tmp_path):
    (tmp_path / "train.txt").write_text(" b a \n\n a c\n", encoding="utf-8")  # an empty line
    (tmp_path / "valid.txt").write_text("d a\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("e b", encoding="utf-8")  # no final newline
    corpus = data.load_corpus(tmp_path)
    assert corpus.dictionary.idx2word == ["b", "a", "<eos>", "c", "d", "e"]
    assert corpus.dictionary.word2idx == {w: i for i, w in enumerate(corpus.dictionary.idx2word)}
    assert len(corpus.dictionary) == 6
    words = lambda t: [corpus.dictionary.idx2word[i] for i in t.tolist()]  # noqa: E731
    assert words(corpus.train) == ["b", "a", "<eos>", "<eos>", "a", "c", "<eos>"]
    assert words(corpus.valid) == ["d", "a", "<eos>"]
    assert words(corpus.test) == ["e", "b", "<eos>"]
    for t in (corpus.train, corpus.valid, corpus.test):
        assert t.dtype == torch.int64 and t.dim() == 1


def test_matches_line_by_line_tokenisation(tmp_path):
    folder = _write_corpus(tmp_path / "wt")
    (folder / "valid.txt").write_text(" x\ty \r\n\u00a0z \n", encoding="utf-8")  # odd whitespace
    corpus = data.load_corpus(folder)
    d, ids = _reference(folder)
    assert corpus.dictionary.idx2word == d.idx2word
    for key in ("train", "valid", "test"):
        assert getattr(corpus, key).tolist() == ids[key]


# ---------------------------------------------------------------- cache

def test_cache_created_reused_and_safe_to_load(tmp_path):
    folder = _write_corpus(tmp_path / "wt")
    first = data.load_corpus(folder)
    cache = folder / data.CACHE_FILES["wikitext"]
    assert not first.from_cache and cache.exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    blob = torch.load(cache, weights_only=True)  # plain tensors and lists, no pickled objects
    assert blob["words"] == first.dictionary.idx2word
    assert torch.equal(blob["train"], first.train)
    second = data.load_corpus(str(folder))
    assert second.from_cache
    assert second.dictionary.idx2word == first.dictionary.idx2word
    for key in ("train", "valid", "test"):
        assert torch.equal(getattr(second, key), getattr(first, key))


def test_cache_rebuilt_when_source_changes(tmp_path):
    folder = _write_corpus(tmp_path / "wt")
    data.load_corpus(folder)
    with open(folder / "test.txt", "a", encoding="utf-8") as f:
        f.write(" brandnew word \n")
    corpus = data.load_corpus(folder)
    assert not corpus.from_cache
    assert corpus.dictionary.idx2word[-2:] == ["brandnew", "word"]
    assert data.load_corpus(folder).from_cache
    # Same size, new modification time: rebuilt too.
    path = folder / "train.txt"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not data.load_corpus(folder).from_cache


def test_cache_rebuilt_on_request_and_when_unreadable(tmp_path):
    folder = _write_corpus(tmp_path / "wt")
    data.load_corpus(folder)
    assert not data.load_corpus(folder, rebuild=True).from_cache
    cache = folder / data.CACHE_FILES["wikitext"]
    cache.write_bytes(b"not a torch file")
    corpus = data.load_corpus(folder)
    assert not corpus.from_cache
    assert data.load_corpus(folder).from_cache


def test_unwritable_folder_warns_once_and_loads(tmp_path, monkeypatch):
    folder = _write_corpus(tmp_path / "wt")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # chmod does not stop root, so make the write itself fail instead.
    monkeypatch.setattr(data, "save_torch", refuse)
    monkeypatch.setattr(data, "_warned_folders", set())
    with pytest.warns(RuntimeWarning, match="could not write the corpus cache"):
        corpus = data.load_corpus(folder)
    assert len(corpus.train) > 0
    assert not (folder / data.CACHE_FILES["wikitext"]).exists()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_corpus(folder)  # no second warning


# ---------------------------------------------------------------- missing data

def test_missing_folder_message(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(data.DatasetMissing) as info:
        data.load_corpus(folder)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(folder) in msg and "not found" in msg
    for name in ("train.txt", "valid.txt", "test.txt", "download.py"):
        assert name in msg
    assert isinstance(info.value, FileNotFoundError)


def test_missing_file_message(tmp_path):
    folder = _write_corpus(tmp_path / "wt")
    (folder / "valid.txt").unlink()
    with pytest.raises(data.DatasetMissing, match=r"missing from .*wt: valid\.txt;") as info:
        data.load_corpus(folder)
    assert f"download.py {folder}" in str(info.value)


# ---------------------------------------------------------------- batching

def test_batchify_layout():
    stream = torch.arange(103)
    source = data.batchify(stream, 10)
    assert source.shape == (10, 10) and source.is_contiguous()
    # Column j is the j-th contiguous chunk of the stream; the 3 extra tokens are trimmed.
    for j in range(10):
        assert source[:, j].tolist() == list(range(10 * j, 10 * j + 10))
    with pytest.raises(ValueError):
        data.batchify(torch.arange(5), 10)


def test_get_batch_shift_and_short_last_window():
    source = data.batchify(torch.arange(200), 4)  # 50 steps
    inp, target = data.get_batch(source, 0, 7)
    assert inp.shape == target.shape == (7, 4)
    assert torch.equal(target, inp + 1)  # next token of each column
    windows = list(data.iter_batches(source, 7))
    assert [w[0].size(0) for w in windows] == [7] * 7
    windows = list(data.iter_batches(source, 10))
    assert [w[0].size(0) for w in windows] == [10] * 4 + [9]  # last window shorter
    inp, target = windows[-1]
    assert torch.equal(target[-1], source[-1]) and torch.equal(inp[0], source[40])
    # Every token after the first of each column is predicted exactly once.
    targets = torch.cat([t for _, t in windows])
    assert torch.equal(targets, source[1:])
    with pytest.raises(IndexError):
        data.get_batch(source, 49, 7)


# ---------------------------------------------------------------- LAMBADA

def _write_lambada(folder):
    folder.mkdir()
    vocab = ["a", "b", "cat", "dog", "not", "is", "will", "hello"]
    (folder / data.LAMBADA_VOCAB).write_text("".join(f"{w}\t{i + 1}\n" for i, w in enumerate(vocab)),
                                             encoding="utf-8")
    (folder / data.LAMBADA_TRAIN / "Horror").mkdir(parents=True)
    (folder / data.LAMBADA_TRAIN / "Adventure").mkdir()
    (folder / data.LAMBADA_TRAIN / "Horror" / "n1.txt").write_text("dog is n't\n", encoding="utf-8")
    (folder / data.LAMBADA_TRAIN / "Adventure" / "n2.txt").write_text("a zebra cat\nb\n", encoding="utf-8")
    (folder / data.LAMBADA_TRAIN / "Adventure" / "notes.md").write_text("ignored\n", encoding="utf-8")
    (folder / data.LAMBADA_VALID).write_text("a b cat\nhello , dog 's cat\n", encoding="utf-8")
    (folder / data.LAMBADA_TEST).write_text("a wo dog\ncat b zebra\nb\n\n", encoding="utf-8")
    return vocab


def test_lambada_loader(tmp_path):
    folder = tmp_path / "lambada"
    vocab = _write_lambada(folder)
    corpus = data.load_corpus(folder, lambada=True)
    d = corpus.dictionary
    assert corpus.lambada and not corpus.from_cache
    assert d.idx2word == vocab + ["<eos>"]  # vocabulary file order, then <eos>
    words = lambda t: [d.idx2word[i] for i in t.tolist()]  # noqa: E731
    # Novels in sorted path order (Adventure before Horror); OOV words dropped; <eos> per line.
    assert words(corpus.train) == ["a", "cat", "<eos>", "b", "<eos>", "dog", "is", "not", "<eos>"]
    # Passages carry no <eos>; "hello," loses its punctuation token, "'s" -> "is".
    assert [words(p) for p in corpus.valid] == [["a", "b", "cat"], ["hello", "dog", "is", "cat"]]
    # "wo" -> "will"; a passage whose last word is unknown, or too short, is skipped.
    assert [words(p) for p in corpus.test] == [["a", "will", "dog"]]
    assert corpus.stats["test_skipped_passages"] == 2
    inp, target = data.lambada_example(corpus.valid[1])
    assert inp.shape == (3, 1) and target.shape == (1,)
    assert words(inp.flatten()) == ["hello", "dog", "is"] and words(target) == ["cat"]

    cache = folder / data.CACHE_FILES["lambada"]
    torch.load(cache, weights_only=True)
    again = data.load_lambada(folder)
    assert again.from_cache and again.stats == corpus.stats
    assert [p.tolist() for p in again.valid] == [p.tolist() for p in corpus.valid]
    # A new novel changes the sources: rebuilt.
    (folder / data.LAMBADA_TRAIN / "Horror" / "n3.txt").write_text("hello\n", encoding="utf-8")
    third = data.load_lambada(folder)
    assert not third.from_cache and words(third.train)[-2:] == ["hello", "<eos>"]


def test_lambada_missing_files(tmp_path):
    folder = tmp_path / "lambada"
    _write_lambada(folder)
    (folder / data.LAMBADA_TEST).unlink()
    with pytest.raises(data.DatasetMissing, match=data.LAMBADA_TEST):
        data.load_corpus(folder, lambada=True)


# ---------------------------------------------------------------- download

CONTENT = {"wiki.train.tokens": b" = A = \n a b c \n", "wiki.valid.tokens": b" d \n",
           "wiki.test.tokens": b" e f \n"}


def _zip(path, content=CONTENT):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("wikitext-2/", b"")
        for name, body in content.items():
            zf.writestr(f"wikitext-2/{name}", body)
    return path


def test_install_verifies_and_unpacks(tmp_path):
    archive = _zip(tmp_path / "wikitext-2-v1.zip")
    dest = tmp_path / "out" / "wikitext-2"
    paths = download.install(archive, dest, sha256=download.sha256_of(archive), member_sha256=False)
    assert sorted(os.listdir(dest)) == ["test.txt", "train.txt", "valid.txt"]
    assert (dest / "train.txt").read_bytes() == CONTENT["wiki.train.tokens"]
    assert [os.path.basename(p) for p in paths] == ["train.txt", "valid.txt", "test.txt"]
    assert sorted(os.listdir(dest.parent)) == ["wikitext-2"]  # no staging left
    corpus = data.load_corpus(dest)  # what was unpacked loads
    assert corpus.dictionary.idx2word[:3] == ["=", "A", "<eos>"]
    # Existing files are kept unless forced; forcing into an existing folder works.
    with pytest.raises(download.DownloadError, match="--force"):
        download.install(archive, dest, sha256=None, member_sha256=False)
    (dest / "train.txt").write_bytes(b"old\n")
    download.install(archive, dest, sha256=None, member_sha256=False, force=True)
    assert (dest / "train.txt").read_bytes() == CONTENT["wiki.train.tokens"]
    assert sorted(p for p in os.listdir(dest) if not p.startswith("corpus")) == [
        "test.txt", "train.txt", "valid.txt"]


def test_install_checksum_mismatch_leaves_nothing(tmp_path):
    archive = _zip(tmp_path / "wikitext-2-v1.zip")
    dest = tmp_path / "wikitext-2"
    with pytest.raises(download.DownloadError, match="checksum mismatch .* expected sha256 0+, got "):
        download.install(archive, dest, sha256="0" * 64)
    assert sorted(os.listdir(tmp_path)) == ["wikitext-2-v1.zip"]
    # A member that fails its own check: the staging folder is removed as well.
    bad = {"wiki.train.tokens": "1" * 64}
    with pytest.raises(download.DownloadError, match="wiki.train.tokens"):
        download.install(archive, dest, sha256=None, member_sha256=bad)
    assert sorted(os.listdir(tmp_path)) == ["wikitext-2-v1.zip"]


def test_install_refuses_a_member_too_large_to_be_wikitext(tmp_path, monkeypatch):
    """A member that would unpack to more than MAX_MEMBER_BYTES (64 MiB; a zip
    bomb, or not WikiText-2) is refused before anything is written."""
    big = dict(CONTENT, **{"wiki.valid.tokens": b" word" * 4000})      # 20 kB, compresses well
    archive = _zip(tmp_path / "w.zip", big)
    monkeypatch.setattr(download, "MAX_MEMBER_BYTES", 10_000)
    with pytest.raises(download.DownloadError, match="wiki.valid.tokens .* more than 0 MiB"):
        download.install(archive, tmp_path / "d", sha256=None, member_sha256=False)
    assert sorted(os.listdir(tmp_path)) == ["w.zip"]                   # staging removed too


def test_install_refuses_a_member_whose_header_lies(tmp_path):
    """A header that declares fewer bytes than the member holds: zipfile
    reads no more than declared and then fails its CRC; one error, no files."""
    import struct
    archive = _zip(tmp_path / "w.zip")
    size = len(CONTENT["wiki.valid.tokens"])
    data = archive.read_bytes().replace(struct.pack("<I", size), struct.pack("<I", size - 1))
    archive.write_bytes(data)
    with pytest.raises(download.DownloadError, match="wiki.valid.tokens in .* is damaged"):
        download.install(archive, tmp_path / "d", sha256=None, member_sha256=False)
    assert sorted(os.listdir(tmp_path)) == ["w.zip"]


def test_install_rejects_incomplete_archive(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"wiki.train.tokens": b"x\n"})
    with pytest.raises(download.DownloadError, match="lacks wiki.valid.tokens"):
        download.install(archive, tmp_path / "d", sha256=None)
    assert not (tmp_path / "d").exists()


def test_download_cli_with_local_archive(tmp_path, capsys):
    archive = _zip(tmp_path / "wikitext-2-v1.zip")
    dest = tmp_path / "wt"
    def status(*args):   # a file the user gave that fails a check: exit status 2
        with pytest.raises(SystemExit) as info:
            download.run_cli(download.main, [str(dest), "--archive", str(archive), *args])
        return info.value.code
    assert status("--sha256", "0" * 64) == 2
    assert "checksum mismatch" in capsys.readouterr().err and not dest.exists()
    # With the real per-file checks the toy archive is refused too.
    assert status("--sha256", "none") == 2
    assert not dest.exists()
    assert status("--sha256", "xyz") == 2
    assert "--sha256: must be 64 hexadecimal digits or 'none'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        download.main(["--help"])
    assert info.value.code == 0
    assert "--archive" in capsys.readouterr().out


def test_download_tries_urls_in_order(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "local.zip")
    calls = []

    def fake_fetch(url, path, timeout=60):  # stands in for the network
        calls.append(url)
        if url == "https://first.invalid/x.zip":
            raise OSError("unreachable")
        with open(archive, "rb") as src, open(path, "wb") as out:
            out.write(src.read())

    monkeypatch.setattr(download, "fetch", fake_fetch)
    dest = tmp_path / "wt"
    urls = ["https://first.invalid/x.zip", "https://second.invalid/x.zip"]
    download.download(dest, urls=urls, sha256=download.sha256_of(archive), member_sha256=False)
    assert calls == urls
    assert (dest / "valid.txt").read_bytes() == CONTENT["wiki.valid.tokens"]
    assert sorted(os.listdir(tmp_path)) == ["local.zip", "wt"]  # fetched archive removed
    with pytest.raises(download.DownloadError, match="--archive"):
        download.download(tmp_path / "other", urls=urls[:1])
    assert sorted(os.listdir(tmp_path)) == ["local.zip", "wt"]
