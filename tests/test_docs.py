"""The examples of docs/api.md run as written, and every link of the README
and docs/ points at a file of the repository."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT, together

API_EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_every_public_function_has_an_example():
    import attractors
    text = "\n".join(API_EXAMPLES)
    for name in attractors.__all__:
        assert name in text, f"docs/api.md has no example using {name}"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Each example run as written, in a folder of its own (run together)."""
    def run(code, folder):
        return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                              text=True, env={"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
                                              "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    folders = [tmp_path_factory.mktemp("api") for _ in API_EXAMPLES]   # not in the threads
    return together(*[lambda code=code, folder=folder: run(code, folder)
                      for code, folder in zip(API_EXAMPLES, folders)])


@pytest.mark.parametrize("index", range(len(API_EXAMPLES)),
                         ids=[c.split("\n")[0][:40] for c in API_EXAMPLES])
def test_api_examples_run_as_written(ran, index):
    result = ran[index]
    assert result.returncode == 0, result.stderr[-2000:]


def test_links_resolve_inside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
