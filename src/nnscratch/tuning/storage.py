"""Where a study of `nnscratch tune` lives, opened safely by many workers on many machines at once.

``--storage`` is an Optuna RDB URL (``sqlite:///PATH`` on one machine, ``postgresql://user:pw@host/db``
for a database server) or ``journal:PATH``, Optuna's JournalStorage in an append-only file on a
shared filesystem (NFS), for clusters without a database server.

* :func:`open_storage`: the storage with heartbeats. On PostgreSQL, Optuna's schema creation is
  serialised by an advisory lock, so invocations started at the same moment on a fresh database do
  not race to ``CREATE TYPE`` / ``CREATE TABLE``. A wrong password or an unreachable host becomes one
  ``RuntimeError`` line, a missing driver an ``ImportError`` naming the extra.
* :func:`claim_lock`: held while a worker counts the study's trials and claims the next one, so the
  budget is exact across processes and machines (an advisory lock on PostgreSQL, a file lock beside
  a SQLite or journal file).
* :func:`retrying`: a storage call repeated while the server is away (restart, network), then one
  clear error.
"""
from __future__ import annotations

import contextlib
import re
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from .. import optional

try:
    import fcntl
except ImportError:  # Windows has no fcntl: no file lock there (use PostgreSQL)
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
_SCHEMA_KEY = 0x6E6E73  # "nns": the advisory lock serialising Optuna's schema creation

#: how the command line names the driver each URL scheme needs
DRIVER_HINT = "PostgreSQL needs psycopg 3 (SQLAlchemy's driver for postgresql://)"


def mask_url(url: str) -> str:
    """The storage URL with any password replaced by ***."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def is_journal(url: str) -> bool:
    return url.startswith("journal:")


def is_postgresql(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def _sqlalchemy() -> Any:
    return optional.require("sqlalchemy", "storages need optuna and its SQLAlchemy", hint=optional.install_hint("tune"))


def reason(exc: BaseException) -> str:
    """The first line of the database's own message (the driver's error under SQLAlchemy's), passwords masked."""
    inner = getattr(exc, "orig", None) or exc.__cause__ or exc
    lines = [ln.strip() for ln in str(inner).splitlines() if ln.strip()]
    text = lines[0] if lines else type(inner).__name__
    return mask_url(re.sub(r'password=\S+', "password=***", text))


def is_transient(exc: BaseException) -> bool:
    """A storage error that a retry may cure: the server restarting, a cut connection, a lock timeout."""
    optuna = optional.load("optuna")
    sa = optional.load("sqlalchemy")
    seen: BaseException | None = exc
    while seen is not None:
        if optuna is not None and isinstance(seen, optuna.exceptions.StorageInternalError):
            return True
        if sa is not None and isinstance(seen, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return True
        if sa is not None and isinstance(seen, sa.exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class StorageUnavailable(RuntimeError):
    """The storage stayed unreachable for the whole retry period (one line: what, why, how to resume)."""


def retrying(call: Callable[[], T], url: str, retry_for: float, what: str) -> T:
    """``call()``, repeated every second while the storage is unreachable, for up to ``retry_for`` s.

    Then ``RuntimeError`` with one line: what was being done, the server's message, and how to resume.
    """
    deadline, said = time.monotonic() + retry_for, False
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - only storage outages are retried, the rest re-raised
            if not is_transient(exc):
                raise
            if time.monotonic() >= deadline:
                raise StorageUnavailable(f"the storage {mask_url(url)} was unreachable for {retry_for:.0f} s while "
                                   f"{what}: {reason(exc)}; run the same command again to resume the study") from exc
            if not said:
                print(f"storage unreachable while {what} ({reason(exc)}); retrying for up to {retry_for:.0f} s",
                      file=sys.stderr, flush=True)
                said = True
            time.sleep(1.0)


def _lock_key(text: str) -> int:
    return zlib.crc32(f"nnscratch-tune:{text}".encode())


@contextlib.contextmanager
def _advisory_lock(url: str, key: int) -> Iterator[None]:
    """A PostgreSQL session advisory lock on its own connection, held for the block."""
    sa = _sqlalchemy()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a dead connection has released it already
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created), held for the block; NFS maps it to a POSIX lock."""
    if fcntl is None:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _local_file(url: str) -> Path | None:
    """The file of a ``journal:PATH`` or ``sqlite:///PATH`` storage (None for servers and in-memory SQLite)."""
    if is_journal(url):
        return Path(url[len("journal:"):]).expanduser()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def claim_lock(url: str, study: str) -> contextlib.AbstractContextManager[None]:
    """The lock a worker holds while it counts the trials of ``study`` and claims one."""
    if is_postgresql(url):
        return _advisory_lock(url, _lock_key(study))
    path = _local_file(url)
    if path is not None:
        return _file_lock(path.with_name(path.name + f".{_lock_key(study):08x}.lock"))
    return contextlib.nullcontext()


def open_storage(url: str, heartbeat: int, grace: int) -> Any:
    """The Optuna storage of ``url``: RDBStorage with heartbeats, or JournalStorage for ``journal:PATH``."""
    optuna = optional.require("optuna", "storages need optuna", hint=optional.install_hint("tune"))
    if is_journal(url):
        path = _local_file(url)
        assert path is not None
        if not path.parent.is_dir():
            raise FileNotFoundError(f"--storage {url}: the directory {path.parent} does not exist")
        journal = optuna.storages.journal
        return optuna.storages.JournalStorage(journal.JournalFileBackend(str(path)))
    if "://" not in url:
        raise ValueError(f"--storage must be an RDB URL (sqlite:///PATH, postgresql://user:password@host/db) "
                         f"or journal:PATH, got {url!r}")
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 120}}
    elif is_postgresql(url):
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    # Optuna creates its tables and types on first use; on PostgreSQL two processes doing that at the
    # same moment collide (duplicate key in pg_type): one at a time, the second finds the schema made
    schema = _advisory_lock(url, _SCHEMA_KEY) if is_postgresql(url) else contextlib.nullcontext()
    try:
        with schema:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                                              grace_period=grace)
    except ImportError as exc:
        raise ImportError(f"--storage {mask_url(url)}: no database driver ({reason(exc)}); {DRIVER_HINT}: "
                          f"{optional.install_hint('tune')}") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. wrong password: one line, not a traceback
        sa = optional.load("sqlalchemy")
        if sa is not None and isinstance(exc, (sa.exc.SQLAlchemyError, sa.exc.ArgumentError)):
            raise RuntimeError(f"cannot open the storage {mask_url(url)}: {reason(exc)}") from exc
        raise


def beat(storage: Any, trial_id: int) -> None:
    """One heartbeat of a running trial: Optuna's own on an RDB storage, a ``heartbeat`` user attr elsewhere."""
    optuna = optional.load("optuna")
    if optuna is not None and isinstance(storage, optuna.storages.RDBStorage):
        storage.record_heartbeat(trial_id)
    else:
        storage.set_trial_user_attr(trial_id, "heartbeat", time.time())
