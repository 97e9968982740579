"""Where things are: the repository, the test fixtures, the shared data (absent on most machines)."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DATA = Path(os.environ.get("ROUTERHUB_SHARED_DATA", REPO.parent / "shared" / "data"))
