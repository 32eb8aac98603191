"Shared fixtures: the data shelf, found through INTRINSIC_PROPS_DATA (relative paths are taken from the project root)."
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    "Shelf path made absolute (notebooks run from nbs/); chapters at the quick scale, their sweeps in a fresh folder."
    d = os.environ.get("INTRINSIC_PROPS_DATA")
    if d and not Path(d).is_absolute(): os.environ["INTRINSIC_PROPS_DATA"] = str((ROOT/d).resolve())
    os.environ["INTRINSIC_PROPS_SCALE"] = "quick"
    os.environ["INTRINSIC_PROPS_RESULTS"] = tempfile.mkdtemp(prefix="intrinsic_props_results_")


def data_required() -> bool:
    "CI must not skip shelf tests: it sets INTRINSIC_PROPS_REQUIRE_DATA (or CI)."
    return any(os.environ.get(v, "").lower() not in ("", "0", "false") for v in ("INTRINSIC_PROPS_REQUIRE_DATA", "CI"))


@pytest.fixture(scope="session")
def shelf() -> Path:
    "The data shelf folder; a failure in CI and a visible skip elsewhere when it is missing."
    d = os.environ.get("INTRINSIC_PROPS_DATA")
    if d and (Path(d)/"manifest.json").is_file(): return Path(d)
    msg = (f"data shelf not found (INTRINSIC_PROPS_DATA={d!r}): set INTRINSIC_PROPS_DATA to the shelf folder, "
           "e.g. INTRINSIC_PROPS_DATA=../shared/data")
    if data_required(): pytest.fail(msg)
    pytest.skip(msg)
