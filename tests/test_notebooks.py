"Every notebook in nbs/ runs as a test, as `nbdev_test` would run it: a failing cell fails the test."
import re
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted((Path(__file__).resolve().parent.parent/"nbs").glob("*.ipynb"))
# A notebook that loads a dataset other than scikit-learn's bundled digits needs the data shelf.
NEEDS_SHELF = re.compile(r"INTRINSIC_PROPS_DATA|load_dataset\(\s*\\?[\"'](?!digits)|shelf")


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_notebook(nb, request):
    if NEEDS_SHELF.search(nb.read_text()): request.getfixturevalue("shelf")
    ok, seconds = run_notebook(nb, skip_flags=get_config().tst_flags.split())
    assert ok, f"{nb.name} failed after {seconds:.0f} s; its traceback is in the captured stderr"
