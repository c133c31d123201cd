"""The whole local stack at once: bring it up, report its health, take it down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import asyncpg
import httpx
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from infra.kafka import local as kafka
from infra.kafka import users as kafka_users
from infra.postgres import local as postgres
from infra.postgres.roles import (
    create_database_and_roles,
    grant_table_privileges,
    role_names,
    superuser_connect,
)
from infra.settings import StackSettings
from infra.supervision import Answer, Position, Sample
from schemas.registry import load_registry
from services.gateway import GatewaySettings
from services.incidents.settings import IncidentSettings
from services.notifier import NotifierSettings
from services.recorder.settings import RecorderSettings
from services.router.settings import RouterSettings
from services.runtime import db, lag
from services.runtime.errors import StackError
from services.runtime.kafka import admin_client
from services.runtime.kinds import Progress
from services.runtime.migrate import load_migrations, migrate
from services.runtime.settings import load_settings
from services.runtime.topic_admin import ensure_topics
from services.runtime.topics import (
    CAPACITY_ALARM_REPORTS,
    CATALOG,
    INCIDENT_COMMANDS,
    INCIDENT_EVENTS,
    INCIDENT_TICKS,
    LINE_FAULT_REPORTS,
    ROUTED_REPORTS,
    SUSPICIOUS_PARCEL_REPORTS,
    task_feeds,
    topic_name,
)

Probe = Callable[[], Awaitable[Sample]]
# What a failed probe can raise; the supervisor's watch goes on with the lag unknown.
PROBE_ERRORS = (KafkaError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


@dataclass(frozen=True)
class Started:
    """Which components this call started (and so should stop), as opposed to found running."""

    postgres: bool
    kafka: bool


async def start_components(settings: StackSettings, progress: Progress) -> Started:
    """Start PostgreSQL and Kafka if they are not running; both start at the same time."""
    cluster = postgres.local_cluster(settings, progress)
    pg_started, kafka_started = await asyncio.gather(
        postgres.start(cluster, settings, progress),
        kafka.start(kafka.single_node(settings), settings, progress),
    )
    return Started(postgres=pg_started, kafka=kafka_started)


async def initialise(settings: StackSettings, progress: Progress) -> None:
    """Make a running Kafka and PostgreSQL ready: roles (given a superuser), topics, migrations."""
    if settings.superuser_database_url:
        await create_database_and_roles(
            settings, connect=superuser_connect(settings.superuser_database_url.get_secret_value())
        )
        progress(f"database {settings.database_name} and its roles are in place")
    await prepare(settings, progress)


async def prepare(settings: StackSettings, progress: Progress) -> None:
    """Apply the topic catalog, the services' Kafka users and the migrations; safe to run
    any number of times."""
    await apply_topics(settings, progress)
    made = await kafka_users.create_service_users(settings)
    progress(f"kafka users: {', '.join(made)}, each with its ACLs")
    await apply_migrations(settings, progress)


async def apply_topics(settings: StackSettings, progress: Progress) -> None:
    """Create or check the catalog's topics; drift that cannot be fixed in place is an error."""
    enterprises = [e.id for e in load_registry().enterprises]
    result = await ensure_topics(
        settings, CATALOG + task_feeds(enterprises), prefix=settings.topic_prefix
    )
    progress(
        f"topics: {len(result.created)} created, {len(result.reconfigured)} reconfigured, "
        f"{len(result.unchanged)} unchanged"
    )


async def apply_migrations(settings: StackSettings, progress: Progress) -> None:
    """Apply pending migrations as the owner role, then set exactly what each service's role
    and the auditor's (named by their URLs) may do to each table, in the same transaction."""
    roles = role_names(settings)
    conn = await db.connect(settings, url=settings.owner_database_url)
    try:
        async with conn.transaction():
            applied = await migrate(
                conn=conn, schema=settings.db_schema, grant_to=tuple(roles.readers)
            )
            await grant_table_privileges(conn=conn, schema=settings.db_schema, roles=roles)
    finally:
        await conn.close()
    progress(f"migrations: {len(applied)} applied to schema {settings.db_schema}")


async def delete_topics(settings: StackSettings) -> None:
    """Delete every topic under settings' (non-empty) prefix: the end of a scratch corner.

    Tests and benchmarks each work under a prefix of their own; a broker that keeps every
    corner's partitions soon needs more open files than the machine allows.
    """
    if not settings.topic_prefix:
        raise ValueError("refusing to delete topics without a prefix: that is every topic")
    async with admin_client(settings) as admin:
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if mine:
            await admin.delete_topics(mine)


async def drop_schema(settings: StackSettings) -> None:
    """Drop settings' database schema and everything in it, as the owner role."""
    owner = await db.connect(settings, url=settings.owner_database_url)
    try:
        await owner.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
    finally:
        await owner.close()


def stop_components(settings: StackSettings, started: Started | None = None) -> list[str]:
    """Stop Kafka (single and cluster) and PostgreSQL; with `started`, only what was started."""
    stopped = []
    if started is None or started.kafka:
        for deployment in (kafka.single_node(settings), kafka.three_node_cluster(settings)):
            if kafka.stop(deployment):
                stopped.append(f"kafka ({deployment.name})")
    if started is None or started.postgres:
        cluster = postgres.existing_cluster(settings)
        if cluster and postgres.stop(cluster):
            stopped.append("postgres")
    return stopped


@dataclass(frozen=True)
class Health:
    """One line of `signalpost status`."""

    component: str
    where: str
    running: bool
    healthy: bool
    detail: str


async def health(settings: StackSettings) -> list[Health]:
    """The state of every part of the local stack, each checked for real."""
    checks = [_kafka_health(kafka.single_node(settings), settings), _postgres_health(settings)]
    cluster = kafka.three_node_cluster(settings)
    if any(node.pid() for node in cluster.nodes):
        checks.append(_kafka_health(cluster, settings))
    return list(await asyncio.gather(*checks))


async def _kafka_health(deployment: kafka.KafkaDeployment, settings: StackSettings) -> Health:
    pids = [pid for pid in (node.pid() for node in deployment.nodes) if pid]
    name = f"kafka ({deployment.name})"
    if not pids:
        return Health(name, deployment.bootstrap, False, False, "not running")
    try:
        await kafka.wait_until_serving(deployment, settings, timeout=5)
    except StackError as exc:
        return Health(name, deployment.bootstrap, True, False, str(exc).splitlines()[0])
    detail = f"{len(pids)}/{len(deployment.nodes)} nodes, pid {', '.join(map(str, pids))}"
    return Health(name, deployment.bootstrap, True, True, detail)


async def _postgres_health(settings: StackSettings) -> Health:
    where = f"127.0.0.1:{settings.database_port}/{settings.database_name}"
    cluster = postgres.existing_cluster(settings)
    pid = cluster.pid() if cluster else None
    if pid is None:
        return Health("postgres", where, False, False, "not running")
    try:
        conn = await asyncio.wait_for(db.connect(settings), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return Health("postgres", where, True, False, f"cannot connect as service role: {exc}")
    try:
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        applied = 0
    finally:
        await conn.close()
    pending = len(load_migrations()) - applied
    detail = f"pid {pid}, schema {settings.db_schema}: {applied} migrations applied"
    if pending:
        detail += f", {pending} pending (run `signalpost migrate`)"
    return Health("postgres", where, True, not pending, detail)


def service_probes(settings: StackSettings) -> dict[str, Probe]:
    """How `signalpost up` watches each service: its group's position on its inputs (the
    recorder's offsets are in PostgreSQL), or the gateway's /healthz. Read once, from the
    services' own settings, as their processes read them."""
    router = load_settings(RouterSettings).router_group_id
    incidents = load_settings(IncidentSettings).app_name
    recorder = load_settings(RecorderSettings).recorder_group_id
    notifier = load_settings(NotifierSettings, topic_prefix=settings.topic_prefix).group_id
    gateway = load_settings(GatewaySettings)
    host = "127.0.0.1" if gateway.gateway_host in ("0.0.0.0", "::") else gateway.gateway_host
    consumers = {
        "router": (
            (LINE_FAULT_REPORTS, CAPACITY_ALARM_REPORTS, SUSPICIOUS_PARCEL_REPORTS),
            partial(lag.kafka_committed, settings, router),
        ),
        "incidents": (
            (ROUTED_REPORTS, INCIDENT_COMMANDS, INCIDENT_TICKS),
            partial(lag.kafka_committed, settings, incidents),
        ),
        "recorder": ((INCIDENT_EVENTS,), partial(lag.postgres_committed, settings, recorder)),
        "notifier": ((INCIDENT_EVENTS,), partial(lag.kafka_committed, settings, notifier)),
    }
    probes: dict[str, Probe] = {
        name: partial(_position, settings, topics, committed)
        for name, (topics, committed) in consumers.items()
    }
    probes["gateway"] = partial(_gateway_health, f"http://{host}:{gateway.gateway_port}/healthz")
    return probes


async def _position(
    settings: StackSettings,
    topics: Iterable[str],
    committed: Callable[[], Awaitable[Mapping[TopicPartition, int]]],
) -> Position:
    names = [topic_name(t, settings.topic_prefix) for t in topics]
    ends = await lag.end_offsets(settings, names)
    return Position(committed=_keyed(await committed(), names), ends=_keyed(ends, names))


def _keyed(offsets: Mapping[TopicPartition, int], topics: list[str]) -> dict[str, int]:
    return {f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items() if tp.topic in topics}


async def _gateway_health(url: str) -> Answer:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            answer = await client.get(url)
    except httpx.HTTPError as exc:
        return Answer(False, f"healthz unreachable: {exc!r}")
    if answer.status_code == 200:
        return Answer(True, "healthz ok")
    try:
        down = [part for part, up in answer.json().items() if up is False]
    except ValueError:
        down = []
    return Answer(False, f"healthz {answer.status_code}: {', '.join(down) or 'degraded'} down")
