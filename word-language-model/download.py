"""Download WikiText-2 (v1, tokenised) as train.txt, valid.txt and test.txt.

    python download.py [DEST]              # DEST defaults to wikitext-2/ beside this file
    python download.py DEST --archive ZIP  # use a wikitext-2-v1.zip fetched by hand

The archive is checked against a SHA-256 before anything is unpacked, and each
unpacked file against its own SHA-256; the files appear in DEST only once all
checks passed (a temporary folder next to them is renamed or moved in place).
"""
# attractors.options first: a Ctrl-C during the imports is then one line
from attractors.options import (CommandError, OneLineParser, Text, UsageError, input_file,
                                output_folder, run_cli)
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
import zlib

ARCHIVE_NAME = "wikitext-2-v1.zip"
# Tried in order. The first is the dataset author's own host; the second, the
# original address, has been refusing requests for a while.
URLS = (
    "https://wikitext.smerity.com/wikitext-2-v1.zip",
    "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
)
# SHA-256 of wikitext-2-v1.zip: the value several independent public projects
# record for this archive (Julia's CorpusLoaders data dependencies among them);
# this project has not downloaded the archive itself to confirm it.
# If your download fails this check but the per-file checks below are what
# you trust, rerun with `--sha256 none`.
ARCHIVE_SHA256 = "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c"
# Archive members, the names they get, and their SHA-256: those of the copies
# shipped in wikitext-2/ (whose SHA-1 equal the ones MXNet's GluonNLP publishes
# for wiki.{train,valid,test}.tokens).
MEMBERS = {
    "wiki.train.tokens": ("train.txt", "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
    "wiki.valid.tokens": ("valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
    "wiki.test.tokens": ("test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
}
CHUNK = 1 << 20
# The largest file unpacked (wiki.train.tokens is 10.8 MB): a damaged or
# hostile archive cannot fill the disk.
MAX_MEMBER_BYTES = 64 << 20


class DownloadError(CommandError):
    """The archive could not be fetched, failed a check, or lacks a file
    (exit status 1; 2 for an archive given with --archive)."""


def fetch(url, path, timeout=60):
    """Save ``url`` to ``path`` (network only; nothing is checked here)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as f:
        shutil.copyfileobj(response, f, CHUNK)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _targets(dest):
    return [os.path.join(dest, name) for name, _ in MEMBERS.values()]


def install(archive, dest, sha256=ARCHIVE_SHA256, member_sha256=True, force=False):
    """Verify ``archive`` and unpack its three files into ``dest``; return their paths.

    ``sha256``: expected SHA-256 of the archive, or None to skip that check
    (the computed value is printed). ``member_sha256``: True to check each
    unpacked file against ``MEMBERS``, False not to, or a dict
    ``{member: sha256}``. Existing files in ``dest`` are replaced only with
    ``force``. On any failure ``dest`` is left as it was.
    """
    targets = _targets(dest)
    present = [t for t in targets if os.path.exists(t)]
    if present and not force:
        raise DownloadError(f"{', '.join(present)} already exist(s); use --force to replace")
    digest = sha256_of(archive)
    if sha256 is None:
        print(f"{archive}: sha256 {digest} (no expected value given, not checked)")
    elif digest != sha256.lower():
        raise DownloadError(f"checksum mismatch for {archive}: expected sha256 {sha256}, "
                            f"got {digest}; the file is damaged or is not {ARCHIVE_NAME}")
    if member_sha256 is True:
        member_sha256 = {m: h for m, (_, h) in MEMBERS.items()}
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise DownloadError(f"{archive} is not a zip archive ({err})") from None
    with zf:
        by_name = {os.path.basename(n): n for n in zf.namelist() if not n.endswith("/")}
        missing = [m for m in MEMBERS if m not in by_name]
        if missing:
            raise DownloadError(f"{archive} lacks {', '.join(missing)}")
        dest_exists = os.path.isdir(dest)
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, exist_ok=True)
        # Stage next to (or inside) dest so that the final moves are renames.
        staging = tempfile.mkdtemp(prefix=".wikitext-download-", dir=dest if dest_exists else parent)
        try:
            for member, (name, _) in MEMBERS.items():
                if zf.getinfo(by_name[member]).file_size > MAX_MEMBER_BYTES:
                    raise DownloadError(f"{member} in {archive} would unpack to more than "
                                        f"{MAX_MEMBER_BYTES >> 20} MiB: not a WikiText-2 file")
                hasher, size = hashlib.sha256(), 0
                with zf.open(by_name[member]) as src, open(os.path.join(staging, name), "wb") as out:
                    try:
                        for block in iter(lambda: src.read(CHUNK), b""):
                            size += len(block)  # the size in the header may lie
                            if size > MAX_MEMBER_BYTES:
                                raise DownloadError(
                                    f"{member} in {archive} unpacks to more than "
                                    f"{MAX_MEMBER_BYTES >> 20} MiB: not a WikiText-2 file")
                            hasher.update(block)
                            out.write(block)
                    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
                        raise DownloadError(f"{member} in {archive} is damaged ({err})") from None
                expected = (member_sha256 or {}).get(member)
                if expected is not None and hasher.hexdigest() != expected:
                    raise DownloadError(f"checksum mismatch for {member} in {archive}: expected "
                                        f"sha256 {expected}, got {hasher.hexdigest()}")
            if dest_exists:
                for name, _ in MEMBERS.values():
                    os.replace(os.path.join(staging, name), os.path.join(dest, name))
                os.rmdir(staging)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private
                os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return targets


def download(dest, urls=URLS, sha256=ARCHIVE_SHA256, member_sha256=True, force=False):
    """Fetch the archive (first URL that answers) and ``install`` it into ``dest``."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    fd, archive = tempfile.mkstemp(prefix=".wikitext-2-v1-", suffix=".zip", dir=parent)
    os.close(fd)
    try:
        errors = []
        for url in urls:
            print(f"downloading {url}")
            try:
                fetch(url, archive)
                break
            except OSError as err:  # URLError and HTTPError are OSErrors
                errors.append(f"{url}: {err}")
        else:
            raise DownloadError("could not download the archive (" + "; ".join(errors) + "); fetch "
                                f"{ARCHIVE_NAME} yourself and run: python download.py "
                                f"{dest} --archive {ARCHIVE_NAME}")
        return install(archive, dest, sha256=sha256, member_sha256=member_sha256, force=force)
    finally:
        os.unlink(archive)


def build_parser():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = OneLineParser(prog="download.py", description=__doc__.split("\n")[0])
    parser.add_argument("dest", nargs="?", type=output_folder(),
                        default=os.path.join(here, "wikitext-2"),
                        help="folder to put train.txt, valid.txt, test.txt in "
                             "(default: wikitext-2 beside this script, where train.py looks)")
    parser.add_argument("--archive", metavar="ZIP", type=input_file(),
                        help=f"use this local {ARCHIVE_NAME} instead of downloading it")
    parser.add_argument("--url", action="append",
                        type=Text(pattern=r"(https?|ftp|file)://\S+", what="a URL (https://...)",
                                  example="https://example.org/wikitext-2-v1.zip"),
                        help="download from this address (repeatable; default: " + ", ".join(URLS) + ")")
    parser.add_argument("--sha256", default=ARCHIVE_SHA256,
                        type=Text(pattern=r"[0-9a-fA-F]{64}|[Nn][Oo][Nn][Ee]",
                                  what="64 hexadecimal digits or 'none'", example="none"),
                        help="expected SHA-256 of the archive, or 'none' to only print it "
                             "(the unpacked files are checked either way; default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="replace train.txt, valid.txt, test.txt if DEST already has them")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    sha256 = None if args.sha256.lower() == "none" else args.sha256
    if not args.force and all(os.path.exists(t) for t in _targets(args.dest)):
        print(f"{args.dest} already holds train.txt, valid.txt and test.txt (use --force to replace)")
        return 0
    try:
        if args.archive:
            paths = install(args.archive, args.dest, sha256=sha256, force=args.force)
        else:
            paths = download(args.dest, urls=args.url or URLS, sha256=sha256, force=args.force)
    except DownloadError as err:
        if args.archive:      # a file the user gave
            raise UsageError(str(err)) from None
        raise
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
