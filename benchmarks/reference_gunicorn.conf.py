"""gunicorn settings of the ingest yardstick (`reference_ingest.py`): the portal's own
(`gunicorn.conf.py`: workers, timeouts, keep-alive, preloading, recycling, `gc.freeze()` before
each fork), less the two hooks that compile the portal's templates and reopen its database pool.
"""

import runpy
from pathlib import Path

globals().update(runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")))
for _hook in ("when_ready", "post_fork"):  # the portal's templates and pool
    globals().pop(_hook)
