"""Throughput of the local Batch server (synthetic responder), through the real client.

Prints, per task and N: upload, run (create -> completed) and download rates, the run's
answers per CPU-second, and the server's peak memory (which should stay flat in N: every
phase streams). Files go to ``--work-dir`` (default: the system's temporary folder) and
are deleted as soon as they can be; 10M spam requests need ~30 GB there at their peak
(14 GB of requests, 8 GB of answers in chunk parts, then 8 GB joined).

    .venv/bin/python bench/server.py --sizes 100000,1000000 --tasks spam,rich
"""

import argparse
import datetime as dt
import os
import platform

from server_measure import TASKS, measure


def main() -> None:
    """Measure each task and size and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="comma-separated N values")
    parser.add_argument("--tasks", default="spam,rich", help=f"comma-separated, of {TASKS}")
    parser.add_argument("--work-dir", default=None, help="where the files go while measured")
    args = parser.parse_args()
    print(f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} cores, python {platform.python_version()}")
    header = (
        "task",
        "N",
        "upload req/s",
        "run answers/s",
        "answers/CPU-s",
        "download req/s",
        "peak MB",
    )
    print("  ".join(f"{h:>14}" for h in header), flush=True)
    for task in args.tasks.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            m = measure(size, task=task, work_dir=args.work_dir)
            row = (
                task,
                f"{size:,}",
                f"{m['upload_rps']:,.0f}",
                f"{m['run_rps']:,.0f}",
                f"{m['run_rps_per_cpu_s'] or 0:,.0f}",
                f"{m['download_rps']:,.0f}",
                f"{m['server_peak_rss_mb'] or 0:,.0f}",
            )
            print("  ".join(f"{v:>14}" for v in row), flush=True)


if __name__ == "__main__":
    main()
