#!/usr/bin/env python
"""Killed mid-write, many times: the table for the README and the closing note of issue 18.

    .venv/bin/python scripts/faults.py [--kills 20] [--backends sqlite,postgresql] [--json]

Each write kind (tests/fault_support.py) is run by a writer process SIGKILLed at a random moment,
`--kills` times, on a fresh SQLite file and on a throwaway PostgreSQL server (tests/db_support.py);
the library is checked after every kill. The case save runs a real analysis with the committed
weights; the CLI row kills `python -m db import-set` itself. Exit status 1 if anything was lost or
half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fault_support import (  # noqa: E402
    Answer,
    CaseSave,
    Reorder,
    SetImport,
    StoreReport,
    run_cli_import_kills,
    run_kills,
)


def real_analysis():
    from core import settings
    from core.analysis import analyze_bytes
    from core.model_service import ModelService
    from core.training import dataset

    image = next((dataset.KERMANY / "test" / "PNEUMONIA").glob("*.jpeg"))
    return analyze_bytes(ModelService(settings.weights_dir()), image.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cxr-faults-"))
    server = None
    rows = []
    try:
        analysis = real_analysis()
        for backend in args.backends.split(","):
            if backend == "postgresql":
                from db_support import PgServer

                server = PgServer()
                server.start()
            for n, make in enumerate(
                [
                    lambda d: CaseSave(analysis),
                    lambda d: Reorder(),
                    lambda d: Answer(),
                    lambda d: StoreReport(),
                    lambda d: SetImport(args.kills * 4, d),
                    None,
                ]
            ):
                folder = work / f"{backend}-{n}"
                folder.mkdir()
                url = server.create_database() if server else f"sqlite:///{folder / 'library.db'}"
                if make is None:
                    row = run_cli_import_kills(
                        SetImport(args.kills + 1, folder, per_set=40, size=224), url, args.kills, dict(os.environ)
                    )
                else:
                    row = run_kills(make(folder), url, args.kills, folder, seed=n)
                rows.append(row)
                print(
                    f"{row.kind:15} {row.backend:10} kills {row.kills:3}  confirmed {row.confirmed:5}  "
                    f"lost {row.lost}  half-written {row.half_written}",
                    file=sys.stderr,
                )
                for problem in row.problems[:5]:
                    print(f"    {problem}", file=sys.stderr)
            if server:
                server.stop("immediate")
                server = None
    finally:
        if server:
            server.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print("| write kind | backend | kills | confirmed writes | lost confirmed | half-written visible |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r.kind} | {r.backend} | {r.kills} | {r.confirmed} | {r.lost} | {r.half_written} |")
    return 1 if any(r.lost or r.half_written or r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
