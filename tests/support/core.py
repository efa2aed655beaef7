"""Running the compiled core from tests: import it or skip, and run it under a deadline.

Set MBO_FAST_REQUIRE_CORE=1 (CI) to make a missing compiled core an error instead of a skip.
"""

from __future__ import annotations

import os
import threading

import pytest


def require_core():
    """Import mbo_fast (the compiled core); skip the calling module when it is not built."""
    try:
        import mbo_fast
    except ImportError as exc:
        if os.environ.get("MBO_FAST_REQUIRE_CORE"):
            raise
        pytest.skip(f"mbo_fast is not built: {exc}", allow_module_level=True)
    return mbo_fast


def run_guarded(body, timeout=120.0):
    """Run body() in a thread; fail (instead of hanging the suite) if it does not finish."""
    result: list[BaseException | None] = []

    def target():
        try:
            body()
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"no result after {timeout}s: the decoder hangs")
    if result[0] is not None:
        raise result[0]
