"""The examples of docs/api.md run as written, and every link of the README
and docs/ points at a file of the repository."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT

API_EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_every_public_function_has_an_example():
    import attractors
    text = "\n".join(API_EXAMPLES)
    for name in attractors.__all__:
        assert name in text, f"docs/api.md has no example using {name}"


@pytest.mark.parametrize("code", API_EXAMPLES, ids=lambda c: c.split("\n")[0][:40])
def test_api_examples_run_as_written(code, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
                                            "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_links_resolve_inside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
