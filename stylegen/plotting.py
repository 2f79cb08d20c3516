"""matplotlib for the PNG charts of reports, eval and training."""
from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (files only, no display).

    The backend is chosen before pyplot is first imported, so a machine without a display
    (a nightly job, CI) never tries to open one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
