"""`fraudwatch projector`: the dashboard's rollup projector as its own process, for deployments
whose scoring nodes run with `FRAUDWATCH_DASHBOARD_PROJECTOR=false`."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from fraudwatch.cli.common import container
from fraudwatch.cli.output import err_console


def projector_command(
    once: Annotated[
        bool, typer.Option("--once", help="Project what is stored now, then exit.")
    ] = False,
    report_s: Annotated[float, typer.Option(help="Seconds between progress lines.")] = 30.0,
) -> None:
    """Keep the dashboard's hourly rollups current: tail new decisions and labels (whichever
    process stored them) until interrupted. Run one per deployment; it is idempotent and
    resumes from its stored cursor."""
    from fraudwatch.analytics.projector import Projector

    with container() as app:
        app.store.migrate()
        projector = Projector(app.store.engine)
        if once:
            err_console.print(f"projected {projector.catch_up():,} decisions and labels")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        projector.start()
        err_console.print("dashboard projector running (Ctrl-C to stop)")
        try:
            while not stop.wait(report_s):
                err_console.print(f"{projector.projected:,} decisions projected so far")
        finally:
            projector.stop()
        err_console.print(f"stopped after {projector.projected:,} decisions")
