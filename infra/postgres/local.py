"""The local PostgreSQL: Debian's binaries, a project-local cluster, the database and its roles."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from infra.postgres.roles import create_database_and_roles
from infra.process import log_tail, read_pid, require_free_port, run_checked
from infra.settings import StackSettings
from services.runtime.errors import StackError
from services.runtime.kinds import Progress

SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresCluster:
    """One PostgreSQL server whose data lives in the project's home."""

    directory: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """The Unix socket sits in the 0700 data directory: only root and the server reach it."""
        return self.data_dir

    def pid(self) -> int | None:
        """The postmaster's pid while this cluster runs."""
        return read_pid(self.data_dir / "postmaster.pid", marker=f"-D {self.data_dir}", search=True)


def local_cluster(settings: StackSettings, progress: Progress) -> PostgresCluster:
    """The development cluster, on the port of SIGNALPOST_DATABASE_URL."""
    return PostgresCluster(
        settings.home / "postgres", settings.database_port, ensure_installed(settings, progress)
    )


def existing_cluster(settings: StackSettings) -> PostgresCluster | None:
    """The development cluster when PostgreSQL is installed; never installs it."""
    bin_dir = find_bin_dir(settings)
    if bin_dir is None:
        return None
    return PostgresCluster(settings.home / "postgres", settings.database_port, bin_dir)


def find_bin_dir(settings: StackSettings) -> Path | None:
    """Where initdb and pg_ctl live: the setting, Debian's newest version, or PATH."""
    if settings.postgres_bin_dir:
        return settings.postgres_bin_dir
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def ensure_installed(settings: StackSettings, progress: Progress) -> Path:
    """PostgreSQL's binaries, installing Debian's `postgresql` package when missing and allowed."""
    found = find_bin_dir(settings)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            "PostgreSQL's server binaries (initdb, pg_ctl) were not found; install them "
            "(Debian: sudo apt-get install postgresql) or set SIGNALPOST_POSTGRES_BIN_DIR"
        )
    progress("installing PostgreSQL from Debian's packages (first run only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "postgresql"],
    ):
        if subprocess.run(command, env=env, capture_output=True).returncode != 0:
            raise StackError(f"`{' '.join(command)}` failed; install PostgreSQL by hand")
    found = find_bin_dir(settings)
    if not found:
        raise StackError("the postgresql package installed but initdb is still missing")
    return found


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root, so root runs it as the `postgres` system user."""
    return SUPERUSER if os.geteuid() == 0 else None


def init(cluster: PostgresCluster, progress: Progress) -> None:
    """Create the cluster's data directory once (initdb)."""
    if (cluster.data_dir / "PG_VERSION").exists():
        return
    if cluster.data_dir.exists() and any(cluster.data_dir.iterdir()):
        raise StackError(
            f"PostgreSQL data directory {cluster.data_dir} has files but no PG_VERSION (damaged); "
            "`signalpost postgres reset` deletes the local database and starts afresh"
        )
    progress(f"initialising PostgreSQL in {cluster.data_dir}")
    cluster.data_dir.mkdir(parents=True, exist_ok=True)
    user = _server_user()
    if user:
        shutil.chown(cluster.directory, user)
        shutil.chown(cluster.data_dir, user)
    run_checked(
        [
            str(cluster.bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", SUPERUSER,
            "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
        ],
        what="initdb",
        user=user,
    )  # fmt: skip
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# SignalPost's local server: loopback only, room for every service's pool.\n"
            "listen_addresses = '127.0.0.1'\nmax_connections = 200\nshared_buffers = 256MB\n"
        )


async def start(cluster: PostgresCluster, settings: StackSettings, progress: Progress) -> bool:
    """Start the server if it is not running, then make sure the database and roles exist."""
    started = cluster.pid() is None
    if started:
        require_free_port(cluster.port, what="PostgreSQL", variable="SIGNALPOST_DATABASE_URL")
        init(cluster, progress)
        cluster.log_file.touch()
        if _server_user():
            shutil.chown(cluster.log_file, SUPERUSER)
        try:
            run_checked(
                [
                    str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir),
                    "-l", str(cluster.log_file), "-w", "-t", "60",
                    "-o", f"-p {cluster.port} -k {cluster.socket_dir}", "start",
                ],
                what="starting PostgreSQL",
                user=_server_user(),
            )  # fmt: skip
        except StackError as exc:
            tail = log_tail(cluster.log_file)
            raise StackError(f"{exc}\nlast lines of {cluster.log_file}:\n{tail}") from None
        progress(f"PostgreSQL serving on 127.0.0.1:{cluster.port}")
    await create_database_and_roles(settings, connect=lambda db: _connect(cluster, db))
    return started


def stop(cluster: PostgresCluster) -> bool:
    """Stop the server with a fast, clean shutdown; False if it was not running."""
    if cluster.pid() is None:
        return False
    run_checked(
        [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast", "-w", "stop"],
        what="stopping PostgreSQL",
        user=_server_user(),
    )
    return True


def reset(cluster: PostgresCluster) -> None:
    """Stop the server and delete its data: the cure for a damaged local cluster."""
    stop(cluster)
    shutil.rmtree(cluster.directory, ignore_errors=True)


async def _connect(cluster: PostgresCluster, database: str) -> asyncpg.Connection:
    """A superuser connection over the data directory's Unix socket."""
    try:
        return await asyncpg.connect(
            host=str(cluster.socket_dir), port=cluster.port, user=SUPERUSER, database=database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise StackError(f"cannot reach the local PostgreSQL as {SUPERUSER}: {exc}") from None
