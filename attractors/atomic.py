"""Writing a file so that a reader sees the old version or the new one,
never a part: write a temporary file beside it, then rename it into place.
No torch here, so that light commands (sweep.py --status) start fast."""
import json
import os
import tempfile

# mkstemp creates files readable by the owner only; give them the usual mode.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write, make_folders=False):
    """Call ``write(binary_file_object)`` on a temporary file, then move it to
    ``path``. ``make_folders``: create the missing folders above ``path``
    first, and remove them again if the write fails (or is interrupted)."""
    folder = os.path.dirname(os.path.abspath(path))
    made = []
    if make_folders:
        above = folder
        while not os.path.exists(above):
            made.append(above)
            above = os.path.dirname(above)
        os.makedirs(folder, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path),
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    except BaseException:
        for made_folder in made:       # the deepest first; each is empty again
            try:
                os.rmdir(made_folder)
            except OSError:
                break
        raise
    return path


def write_json(obj, path):
    text = json.dumps(obj, indent="\t") + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))
