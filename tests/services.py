"""Real servers for the scale-out tests and the fleet benchmark: S3 (moto), Redis, PostgreSQL.

Each runs as its own process on a free loopback port with its data in a temporary folder, and is
stopped at the end. `scripts/install-services.sh` (run by `make test`) installs them; a server
that cannot start fails the tests that need it with its log, never skips them.

- S3: `moto_server`, moto's S3 over HTTP (from the `moto[server]` test extra); in memory.
- Redis: Debian's `redis-server`, without persistence.
- PostgreSQL: Debian's server binaries (/usr/lib/postgresql/<v>/bin), a throw-away cluster made
  by initdb with trust authentication on 127.0.0.1 only. PostgreSQL refuses to run as root, so
  as root the cluster is owned and run by the `postgres` user the Debian package creates.

`TcpProxy` stands between the workers and S3 so a test can take S3 away and bring it back on the
same address (connections refused, like a store that went down), which moto itself cannot do
without losing its in-memory buckets.

Also a pytest plugin (tests/conftest.py loads it): session-wide servers, and per test a fresh
bucket, database and Redis database.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 30.0
INSTALL_HINT = "run `make services` (scripts/install-services.sh) to install it"
# moto accepts any credentials; boto3 only needs some to sign with.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {STARTUP_TIMEOUT}s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def _spawn(argv: list[str], log: Path, **kwargs) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kwargs)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    """A started server: where it answers and how to stop it."""

    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        _end(self.process)


def start_s3(root: Path) -> Server:
    moto = Path(sys.executable).with_name("moto_server")
    if not moto.is_file():
        raise RuntimeError(f"{moto} is missing: pip install 'moto[server]' (the test extra); {INSTALL_HINT}")
    port = free_port()
    log = root / "moto.log"
    process = _spawn([str(moto), "-H", "127.0.0.1", "-p", str(port)], log, env={**os.environ, **FAKE_AWS})
    wait_for_port(port, process, log, "moto_server")
    return Server(f"http://127.0.0.1:{port}", process, log)


def start_redis(root: Path, port: int | None = None) -> Server:
    """An empty Redis; on `port` to bring back one that was stopped (as empty as a lost one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"redis-server is not installed; {INSTALL_HINT}")
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "redis.log"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = _spawn([*argv, "--dir", str(root), "--databases", "64"], log)
    wait_for_port(port, process, log, "redis-server")
    return Server(f"redis://127.0.0.1:{port}", process, log)


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError(f"PostgreSQL's server (pg_ctl) is not installed; {INSTALL_HINT}")
    return Path(found[-1]).parent


class Postgres(Server):
    """A throw-away cluster; `stop` shuts it down fast and removes nothing (the temp dir does)."""

    def __init__(self, url: str, data: Path, log: Path, as_user: list[str]):
        super().__init__(url, None, log)
        self.data, self.as_user = data, as_user

    def stop(self) -> None:
        pg_ctl = postgres_bin() / "pg_ctl"
        subprocess.run([*self.as_user, str(pg_ctl), "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True)


def start_postgres(root: Path) -> Postgres:
    bin_dir = postgres_bin()
    data = root / "pgdata"
    log = root / "postgres.log"
    root.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse root: run them as the `postgres` user (Debian's package makes it).
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(f"running as root needs the 'postgres' user; {INSTALL_HINT}") from None
        shutil.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    init = subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "vitrine", "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{init.stdout}{init.stderr}")
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    start = subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start"],
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not start:\n{start.stdout}{start.stderr}\n{_tail(log)}")
    return Postgres(f"postgresql+psycopg://vitrine@127.0.0.1:{port}", data, log, as_user)


def create_database(server_url: str) -> str:
    """A new empty database on the cluster; its SQLAlchemy URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def create_bucket(endpoint: str) -> str:
    import boto3

    name = "vitrine-" + uuid.uuid4().hex[:12]
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


class TcpProxy:
    """Forwards a loopback port to a server; `stop()` refuses and cuts connections, `start()` resumes."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            _close(listener)  # shutdown() wakes the thread blocked in accept()
        for conn in connections:
            _close(conn)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                stopped = self._listener is not listener
                if not stopped:
                    self._connections.update((client, upstream))
            if stopped:
                _close(client)
                _close(upstream)
                return
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)
            with self._lock:
                self._connections -= {src, dst}


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# The pytest plugin ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def services_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="vitrine-services-"))
    root.chmod(0o755)  # the PostgreSQL cluster inside is run by another user when we are root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server(services_root: Path) -> Iterator[Server]:
    for name, value in FAKE_AWS.items():
        os.environ.setdefault(name, value)
    server = start_s3(services_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(services_root: Path) -> Iterator[Server]:
    server = start_redis(services_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(services_root: Path) -> Iterator[Postgres]:
    server = start_postgres(services_root / "pg")
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: Server) -> str:
    """A new empty bucket on the S3 server."""
    return create_bucket(s3_server.url)


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A new empty database on the PostgreSQL cluster."""
    return create_database(postgres_server.url)


_redis_dbs = iter(range(1, 64))


@pytest.fixture
def redis_url(redis_server: Server) -> str:
    """A Redis database no other test uses (numbered, on the session's server)."""
    return f"{redis_server.url}/{next(_redis_dbs)}"
