"""Every benchmark run, kept: an SQLite database in the user's data dir (`history.sqlite3`).

One row per run (host, command, created, complete, the whole report as compressed JSON so `load_run` gives
back the BenchReport `compare` needs), one per device run (backend, GPU name, uuid, driver, torch version)
and one per measurement (op, dtype, shape, median, the headline rate and its unit), so `history` can list
and plot without unpacking reports.

Several runs at once are safe: the database is in WAL mode (readers never block the writer), every write
is one `BEGIN IMMEDIATE` transaction, and `busy_timeout` makes a second writer wait for the first instead
of failing. The schema version is `PRAGMA user_version`; `MIGRATIONS` bring an older file up to date, each
recorded in the `schema_migrations` table, and a file from a newer release is refused, not rewritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import socket
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError, UsageError
from .model import BenchReport, DeviceRun, Measurement, Status

FILE_NAME = "history.sqlite3"
# A second run finishing at the same moment waits this long for the first one's transaction (they last
# milliseconds; a minute only matters on a stalled network file system).
BUSY_TIMEOUT_MS = 60_000

# Append only: the index + 1 is the schema version after the step. Never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        created TEXT NOT NULL,          -- the report's own timestamp (ISO 8601, UTC)
        recorded TEXT NOT NULL,         -- when it entered the history
        host TEXT,
        command TEXT NOT NULL,          -- JSON list
        suite TEXT,
        complete INTEGER NOT NULL,
        results_path TEXT,
        system TEXT NOT NULL,           -- JSON object
        config TEXT NOT NULL,           -- JSON object
        report BLOB NOT NULL            -- zlib-compressed JSON of the whole BenchReport
    );
    CREATE INDEX runs_created ON runs(created);
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        backend TEXT NOT NULL,
        name TEXT NOT NULL,
        uuid TEXT,
        driver TEXT,
        torch_version TEXT,
        error TEXT,
        device TEXT NOT NULL,           -- JSON object
        software TEXT NOT NULL          -- JSON object
    );
    CREATE INDEX devices_run ON devices(run_id);
    CREATE TABLE measurements (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        workload TEXT NOT NULL,
        op TEXT NOT NULL,
        dtype TEXT NOT NULL,
        shape TEXT NOT NULL,
        variant TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        n INTEGER,
        median_s REAL,
        iqr_s REAL,
        rate REAL,                      -- the headline rate (metrics.measurement_rate) in `unit`
        unit TEXT,
        tflops REAL,
        gbps REAL,
        its REAL,
        device_peak_bytes INTEGER,
        host_rss_max_bytes INTEGER
    );
    CREATE INDEX measurements_op ON measurements(op, device_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class DeviceSummary:
    label: str
    backend: str
    name: str
    uuid: str | None
    driver: str | None
    torch_version: str | None
    error: str | None


@dataclass(frozen=True)
class RunSummary:
    id: int
    created: str
    host: str | None
    command: tuple[str, ...]
    suite: str | None
    complete: bool
    results_path: str | None
    devices: tuple[DeviceSummary, ...]
    measurements: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "created": self.created, "host": self.host, "command": list(self.command),
            "suite": self.suite, "complete": self.complete, "results_path": self.results_path,
            "devices": [vars(d) for d in self.devices], "measurements": self.measurements, "failed": self.failed,
        }


@dataclass(frozen=True)
class TrendPoint:
    """One op's headline rate in one run on one device."""

    run_id: int
    created: str
    device: str
    key: str
    rate: float
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    from ..paths import data_dir

    return data_dir(environ) / FILE_NAME


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _day_bound(text: str, end: bool) -> str:
    """'2026-05-01' or a full ISO timestamp -> a string comparable with `created` ('...Z')."""
    try:
        if len(text) == 10:
            day = _dt.date.fromisoformat(text)
            return day.isoformat() + ("T23:59:59Z" if end else "T00:00:00Z")
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a date: {text!r} (use YYYY-MM-DD or an ISO 8601 time)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class History:
    """The run history in one SQLite file. Open per use (`with History(path) as h:`); cheap."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"benchmark history {self.path} cannot be used: {exc}",
                hint="move the file away to start a new history (runs keep their results folders)",
            ) from None

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- schema ---------------------------------------------------------------------------------

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self._version() == SCHEMA_VERSION:
            return
        with self._write():
            version = self._version()  # again, inside the lock: another process may have migrated
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"benchmark history {self.path} has schema version {version}; this release reads up to "
                    f"{SCHEMA_VERSION}",
                    hint="use the newer ipex-integration, or pass --no-history",
                )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
            )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (step + 1, _now()))
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    class _Txn:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            # IMMEDIATE takes the write lock now, so two writers queue (busy_timeout) instead of deadlocking
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self) -> "History._Txn":
        return History._Txn(self._db)

    # -- writing ----------------------------------------------------------------------------------

    def record(self, report: BenchReport, *, results_path: str | Path | None = None, host: str | None = None) -> int:
        """Store one run with all its devices and measurements; returns its id."""
        from .report.writer import dumps_report

        blob = zlib.compress(dumps_report(report).encode("utf-8"), 6)
        host = host if host is not None else (report.system.get("hostname") or socket.gethostname())
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO runs (created, recorded, host, command, suite, complete, results_path, system, config,"
                " report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report.created, _now(), host, _json(report.command), report.config.get("suite"),
                    int(report.complete), str(results_path) if results_path else None, _json(report.system),
                    _json(report.config), blob,
                ),
            )
            run_id = int(cur.lastrowid)
            for position, run in enumerate(report.runs):
                device_id = self._insert_device(db, run_id, position, run)
                db.executemany(
                    "INSERT INTO measurements (run_id, device_id, key, workload, op, dtype, shape, variant, status,"
                    " reason, n, median_s, iqr_s, rate, unit, tflops, gbps, its, device_peak_bytes,"
                    " host_rss_max_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, device_id, *_measurement_row(m)) for m in run.measurements],
                )
        return run_id

    @staticmethod
    def _insert_device(db: sqlite3.Connection, run_id: int, position: int, run: DeviceRun) -> int:
        software = run.software
        cur = db.execute(
            "INSERT INTO devices (run_id, position, label, backend, name, uuid, driver, torch_version, error, device,"
            " software) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, position, run.label, run.backend, run.device_name, _str(run.device.get("uuid")),
                _str(run.device.get("driver")), _str(software.get("torch_version") or software.get("torch")),
                run.error, _json(run.device), _json(software),
            ),
        )
        return int(cur.lastrowid)

    # -- reading ----------------------------------------------------------------------------------

    def runs(
        self,
        *,
        device: str | None = None,
        op: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs, newest first. `device` matches a backend ("cuda"), a label or part of a GPU name,
        case-insensitively; `op` keeps runs that measured that op; since/until are dates or ISO times."""
        where, params = self._filters(device=device, op=op, since=since, until=until)
        sql = f"SELECT id, created, host, command, suite, complete, results_path FROM runs r {where} ORDER BY created DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._summary(row) for row in self._db.execute(sql, params).fetchall()]

    @staticmethod
    def _filters(**given: str | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if given.get("device"):
            clauses.append(
                "EXISTS (SELECT 1 FROM devices d WHERE d.run_id = r.id AND (lower(d.backend) = lower(?)"
                " OR instr(lower(d.label), lower(?)) OR instr(lower(d.name), lower(?))))"
            )
            params += [given["device"]] * 3
        if given.get("op"):
            clauses.append("EXISTS (SELECT 1 FROM measurements m WHERE m.run_id = r.id AND m.op = ?)")
            params.append(given["op"])
        if given.get("since"):
            clauses.append("r.created >= ?")
            params.append(_day_bound(str(given["since"]), end=False))
        if given.get("until"):
            clauses.append("r.created <= ?")
            params.append(_day_bound(str(given["until"]), end=True))
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _summary(self, row: Sequence[Any]) -> RunSummary:
        run_id = int(row[0])
        devices = tuple(
            DeviceSummary(*d)
            for d in self._db.execute(
                "SELECT label, backend, name, uuid, driver, torch_version, error FROM devices WHERE run_id = ?"
                " ORDER BY position",
                (run_id,),
            )
        )
        total, failed = self._db.execute(
            "SELECT count(*), coalesce(sum(status = 'failed'), 0) FROM measurements WHERE run_id = ?", (run_id,)
        ).fetchone()
        return RunSummary(
            id=run_id, created=row[1], host=row[2], command=tuple(json.loads(row[3])), suite=row[4],
            complete=bool(row[5]), results_path=row[6], devices=devices, measurements=int(total), failed=int(failed),
        )

    def load_run(self, run_id: int) -> BenchReport:
        """The whole BenchReport of run `run_id` (for `compare`)."""
        row = self._db.execute("SELECT report FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id} in the benchmark history {self.path}",
                             hint="`ipex-benchmark history` lists the runs it holds")
        return BenchReport.from_dict(json.loads(zlib.decompress(row[0]).decode("utf-8")))

    def trend(
        self,
        op: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[TrendPoint]:
        """The headline rate of `op` in every run, oldest first, one series per (device, spec key)."""
        where, params = self._filters(device=device, since=since, until=until)
        sql = (
            "SELECT r.id, r.created, d.label, m.key, m.rate, m.unit FROM measurements m"
            " JOIN devices d ON d.id = m.device_id JOIN runs r ON r.id = m.run_id"
            f" {where} {'AND' if where else 'WHERE'} m.op = ? AND m.status = 'ok' AND m.rate IS NOT NULL"
        )
        params.append(op)
        if device:
            sql += " AND (lower(d.backend) = lower(?) OR instr(lower(d.label), lower(?)) OR instr(lower(d.name), lower(?)))"
            params += [device] * 3
        if dtype:
            sql += " AND m.dtype = ?"
            params.append(dtype)
        sql += " ORDER BY r.created, r.id"
        return [TrendPoint(int(a), b, c, d, float(e), f) for a, b, c, d, e, f in self._db.execute(sql, params)]

    def schema_migrations(self) -> list[tuple[int, str]]:
        return [(int(v), a) for v, a in self._db.execute("SELECT version, applied FROM schema_migrations ORDER BY version")]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _measurement_row(m: Measurement) -> tuple[Any, ...]:
    from .report.metrics import measurement_rate

    ok = m.status is Status.OK and m.stats is not None
    rate = measurement_rate(m) if ok else None
    stats = m.stats
    host_rss = m.extra.get("host_rss_max_bytes", m.extra.get("host_rss_bytes"))
    return (
        m.spec.key, m.spec.workload, m.spec.op, m.spec.dtype, m.spec.shape, m.spec.variant, m.status.value, m.reason,
        stats.n if stats else None, stats.median_s if stats else None, stats.iqr_s if stats else None,
        rate[0] if rate else None, rate[1] if rate else None,
        m.tflops if ok else None, m.gbps if ok else None, m.its if ok else None,
        m.peak_memory_bytes, host_rss if isinstance(host_rss, int) else None,
    )


def record_run(
    report: BenchReport, *, results_path: str | Path | None = None, environ: Mapping[str, str] | None = None,
    path: str | Path | None = None,
) -> int:
    """Record `report` in the default history (or `path`); returns the run id."""
    with History(path or default_path(environ)) as history:
        return history.record(report, results_path=results_path)


def load_run(run_id: int, *, environ: Mapping[str, str] | None = None, path: str | Path | None = None) -> BenchReport:
    """The BenchReport of one recorded run, by id (what `compare 12 15` reads)."""
    with History(path or default_path(environ)) as history:
        return history.load_run(run_id)
