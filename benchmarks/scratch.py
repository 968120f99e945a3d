"""A scratch folder for a benchmark's event store and configs, removed when the benchmark's process exits
(a finished, failed or interrupted run alike) so repeated runs leave nothing behind in the temp folder."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    """A new empty folder under the temp folder, deleted with its contents at interpreter exit."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)
