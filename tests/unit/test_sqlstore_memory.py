"""A SQLite database read from many threads: each thread's reader connection keeps a page cache of
its own, so how large each may grow bounds how much memory a busy service holds."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pls.sqlstore import SQLiteDatabase


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_ten_threads_reading_a_large_database_do_not_each_cache_it(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "large.db")
    with db.transaction() as cursor:
        cursor.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)")
        body = os.urandom(1000)
        cursor.executemany("INSERT INTO rows (body) VALUES (?)", ((body,) for _ in range(48_000)))
    size_mb = (tmp_path / "large.db").stat().st_size / 2**20
    assert size_mb > 40

    def read_everything() -> None:
        with db.reading() as cursor:
            for _ in cursor.execute("SELECT body FROM rows"):
                pass

    before = _resident_mb()
    threads = [threading.Thread(target=read_everything) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = _resident_mb() - before
    db.close()
    # Ten connections caching the whole file would hold about 10 × 47 MB; bounded caches, a
    # fraction of that (the operating system's page cache keeps the file once, outside).
    assert grown < 4 * size_mb, f"{grown:.0f} MB more resident after ten readers"
