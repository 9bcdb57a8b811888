"""Batch import: loads a CSV of generated rows into SQLite in batches, with progress and
checkpoints, exactly once across crashes, retries and pauses.

Each batch is one transaction that inserts its rows and records its number in `batches`;
after the commit the script prints `::progress n/total rows` and `::checkpoint {"offset": n}`.
On start it resumes from `$JOBWORKS_CHECKPOINT` (set by Jobworks for a retry, a resumed
attempt, or an attempt replacing a lost one); a batch already in `batches` (the checkpoint
may lag the commit when the server died in between) is skipped, never imported twice.
SIGUSR1 (`jobworks pause`) stops it after the batch in progress commits.

Parameters (environment): JOBWORKS_PARAM_ROWS (default 1000000), JOBWORKS_PARAM_BATCH
(rows per batch, default 20000), JOBWORKS_PARAM_DB (default batch-import.db),
JOBWORKS_PARAM_CSV (default batch-import-<rows>.csv, generated when absent),
JOBWORKS_PARAM_BATCH_DELAY (seconds to wait after each batch, default 0: for demos).
"""

import csv
import json
import os
import signal
import sqlite3
import sys
import time

ROWS = int(os.environ.get("JOBWORKS_PARAM_ROWS", "1000000"))
BATCH = int(os.environ.get("JOBWORKS_PARAM_BATCH", "20000"))
DB = os.environ.get("JOBWORKS_PARAM_DB", "batch-import.db")
CSV = os.environ.get("JOBWORKS_PARAM_CSV") or f"batch-import-{ROWS}.csv"
DELAY = float(os.environ.get("JOBWORKS_PARAM_BATCH_DELAY", "0"))

stop = False


def on_pause(_signum, _frame):
    global stop
    stop = True


def generate(path, rows):
    """Writes `rows` rows (id, name, amount) to `path` atomically (a temporary file renamed)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "amount"])
        for i in range(rows):
            writer.writerow([i, f"item-{i}", (i * 7919) % 100000])
    os.replace(tmp, path)


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "amount INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS batches (batch_no INTEGER PRIMARY KEY, rows INTEGER NOT "
        "NULL, run_id TEXT, attempt TEXT)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS starts (id INTEGER PRIMARY KEY, run_id TEXT, attempt TEXT, "
        "checkpoint TEXT)"
    )
    return db


def main():
    signal.signal(signal.SIGUSR1, on_pause)
    if BATCH < 1 or ROWS < 0:
        print("rows must be >= 0 and batch >= 1", file=sys.stderr)
        return 2
    if not os.path.exists(CSV):
        print(f"generating {CSV} with {ROWS} rows")
        generate(CSV, ROWS)
    checkpoint = os.environ.get("JOBWORKS_CHECKPOINT")
    offset = json.loads(checkpoint).get("offset", 0) if checkpoint else 0
    run_id = os.environ.get("JOBWORKS_RUN_ID")
    attempt = os.environ.get("JOBWORKS_ATTEMPT")
    db = open_db(DB)
    db.execute(
        "INSERT INTO starts (run_id, attempt, checkpoint) VALUES (?, ?, ?)",
        (run_id, attempt, checkpoint),
    )
    print(f"starting at row {offset} of {ROWS}" + (" (from checkpoint)" if checkpoint else ""))
    with open(CSV, newline="") as source:
        reader = csv.reader(source)
        next(reader)  # header
        for _ in range(offset):
            next(reader)
        while offset < ROWS:
            rows = []
            for row in reader:
                rows.append((int(row[0]), row[1], int(row[2])))
                if len(rows) == BATCH:
                    break
            if not rows:
                break
            batch_no = offset // BATCH
            db.execute("BEGIN IMMEDIATE")
            done = db.execute(
                "SELECT 1 FROM batches WHERE batch_no = ?", (batch_no,)
            ).fetchone()
            if done:
                db.execute("ROLLBACK")
                print(f"batch {batch_no} was committed before: skipped")
            else:
                db.executemany("INSERT INTO items (id, name, amount) VALUES (?, ?, ?)", rows)
                db.execute(
                    "INSERT INTO batches (batch_no, rows, run_id, attempt) VALUES (?, ?, ?, ?)",
                    (batch_no, len(rows), run_id, attempt),
                )
                db.execute("COMMIT")
            offset += len(rows)
            print(f"::progress {offset}/{ROWS} rows")
            print("::checkpoint " + json.dumps({"offset": offset}))
            if stop:
                print(f"paused at row {offset}")
                return 0
            if DELAY:
                time.sleep(DELAY)
    total = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    print(f"imported: {total} rows in the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
