"""`zhifu worker`: the background work in a process of its own (production: one or two beside the web processes)."""

from __future__ import annotations

import signal
import threading

import typer

from zhifu.cli import console, database


def worker(
    once: bool = typer.Option(False, "--once", help="One pass of every duty whose lease it gets, then exit."),
) -> None:
    """Run the background work: sweepers, webhook delivery, the settlement schedule, rollups, the audit tree, the
    risk monitor, complaint clocks and transit. Each duty runs under a lease, so two workers never run one at once."""
    from zhifu.workers import Workers

    workers = Workers(database())
    if once:
        ran = workers.run_once()
        console.print(
            f"ran {len(ran)} duties: {', '.join(ran) or '—'} (the others were held by another worker)"
        )
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers.start()
    console.print(
        f"zhifu worker running {len(workers.duties())} duties under leases; Ctrl-C or SIGTERM stops it"
    )
    stop.wait()
    workers.stop()


COMMANDS = {"worker": worker}
