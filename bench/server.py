"""Throughput of the local Batch server (synthetic responder), through the real client.

Prints, per N: upload, run (create -> completed) and download rates, and the server's
peak memory (which should stay flat in N: every phase streams).

    .venv/bin/python bench/server.py --sizes 10000,50000
"""

import argparse
import datetime as dt
import os
import platform

from server_measure import measure


def main() -> None:
    """Measure each size and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="comma-separated N values")
    args = parser.parse_args()
    print(f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} cores, python {platform.python_version()}")
    header = ("N", "upload req/s", "run req/s", "run req/CPU-s", "download req/s", "peak MB")
    print("  ".join(f"{h:>14}" for h in header))
    for size in (int(s) for s in args.sizes.split(",")):
        m = measure(size)
        row = (
            f"{size:,}",
            f"{m['upload_rps']:,.0f}",
            f"{m['run_rps']:,.0f}",
            f"{m['run_rps_per_cpu_s']:,.0f}",
            f"{m['download_rps']:,.0f}",
            f"{m['server_peak_rss_mb']:,.0f}",
        )
        print("  ".join(f"{v:>14}" for v in row))


if __name__ == "__main__":
    main()
