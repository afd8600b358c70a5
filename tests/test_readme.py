"""The README's Python examples run as written."""

import re
import subprocess
import sys

import pytest
from conftest import BACKEND, HAS_HED, REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "tensorflow", reason="README examples target the default backend")
@pytest.mark.skipif(not HAS_HED, reason='examples use weights="hed_bsds500" (offline extra)')
def test_readme_python_blocks_run_in_order(tmp_path):
    """The blocks read as one session (later blocks reuse earlier names)."""
    script = tmp_path / "readme.py"
    script.write_text("\n".join(BLOCKS))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_quickstart_example_runs(tmp_path):
    if not HAS_HED:
        pytest.skip('quickstart falls back to weights="hed_bsds500" (offline extra)')
    result = subprocess.run([sys.executable, str(REPO / "examples" / "quickstart.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loss after 2 steps" in result.stdout
