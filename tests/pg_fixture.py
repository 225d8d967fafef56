"""A throwaway PostgreSQL server for the tests of `nnscratch tune --storage postgresql://...`.

:class:`PgCluster` runs Debian's server binaries (``initdb``, ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``)
on a fresh cluster in a temporary directory (on /dev/shm where it exists), listening on a free port of 127.0.0.1 only, with password
(SCRAM) authentication. ``initdb`` refuses to run as root, so as root the cluster belongs to the
unprivileged user ``nobody`` (the directory is chowned to it and every server command runs as it);
as any other user it runs directly. The fixtures:

* ``pg_cluster`` (module scope): the running cluster, stopped and deleted after the module;
* ``pg_url``: a new, empty database in it per test, as ``postgresql://nns:PASSWORD@127.0.0.1:PORT/DB``.

Without the binaries the fixtures skip, naming the package to install, except under CI (``CI`` set),
where ``.ci/run`` installs ``postgresql`` and a missing server is an error, never a silent skip.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

USER = "nns"  # the cluster's superuser role (not an OS user)
RUN_AS = "nobody"  # the OS user owning the cluster when the tests run as root


def server_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, else the directory of initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One PostgreSQL cluster in ``root``: ``start()``, ``restart()``, ``stop()``, ``create_database()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        # in memory where there is a tmpfs (a cluster is ~40 MB in ~1000 files), else in /tmp; either is
        # reachable by `nobody`, unlike pytest's tmp_path (0700, root's)
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.root = Path(tempfile.mkdtemp(prefix="nns-pg-", dir=shm))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.password = secrets.token_hex(8)
        self.owner: Any = pwd.getpwnam(RUN_AS) if os.geteuid() == 0 else None
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.root.chmod(0o700)
        self._databases = 0

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the cluster's owner; a failure raises with its output and the server log."""
        kwargs: dict[str, Any] = {}
        if self.owner is not None:
            kwargs = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LC_ALL": "C",
               "TZ": "UTC"}
        proc = subprocess.run([str(self.bin_dir / argv[0]), *argv[1:]], cwd=self.root, env=env, text=True,
                              capture_output=True, timeout=timeout, **kwargs)
        if proc.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}\n{log}")
        return proc

    def start(self) -> "PgCluster":
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.owner is not None:
            os.chown(pwfile, self.owner.pw_uid, self.owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
                  "-E", "UTF8", "--no-instructions", "--no-sync")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:  # a small, fast, private server
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                       "shared_buffers = 16MB\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log))
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every client connection is cut, the server is back when this returns."""
        self._run("pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", str(self.data), "-l", str(self.log))

    def stop(self) -> None:
        """Stop the server (immediate mode: the cluster is thrown away) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "immediate", "-D", str(self.data))
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = None, port: int | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{USER}:{pw}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = f"tune{self._databases}"
        self.sql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def sql(self, database: str, query: str) -> list[tuple[Any, ...]]:
        """Rows of one SQL statement, through the same driver `nnscratch tune` uses (psycopg 3)."""
        psycopg = pytest.importorskip("psycopg")
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                             dbname=database, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL cluster for the module (skips only where no server can be had)."""
    pytest.importorskip("optuna")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install 'nnscratch[tune]'")
    bin_dir = server_bin_dir()
    if bin_dir is None:
        why = ("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql "
               "(.ci/run installs it)")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            pytest.skip(f"running as root and there is no unprivileged user {RUN_AS!r} to own the cluster")
    cluster = PgCluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A new, empty database of the module's cluster: ``postgresql://nns:PASSWORD@127.0.0.1:PORT/tuneN``."""
    return pg_cluster.create_database()
