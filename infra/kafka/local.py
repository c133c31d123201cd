"""The local Apache Kafka: jars fetched by Maven, KRaft storage, one broker or a 3-node cluster."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from infra.process import (
    log_tail,
    port_in_use,
    read_pid,
    require_free_port,
    run_checked,
    start_detached,
    stop_pids,
)
from infra.settings import StackSettings
from services.runtime.errors import StackError
from services.runtime.kafka import ADMIN_SECRET, ADMIN_USER, client_security
from services.runtime.kinds import Progress
from services.runtime.secrets import ensure_secret

KAFKA_DIR = Path(__file__).resolve().parent
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.xml"
MIN_JAVA = 17
# The controllers talk among themselves over SASL PLAIN with a password in the broker's own
# configuration: SCRAM needs the metadata log, which the controllers are what serve.
CONTROLLER_SECRET = "kafka-controller"
SCRAM = "SCRAM-SHA-512"
# Written beside a node's storage once it was formatted with the administrator's SCRAM
# credential: storage from before authentication has no user that could log in.
AUTH_MARKER = "scram-admin.formatted"


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller process."""

    node_id: int
    broker_port: int
    controller_port: int
    directory: Path

    @property
    def config_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def pid_file(self) -> Path:
        return self.directory / "kafka.pid"

    @property
    def auth_marker(self) -> Path:
        return self.directory / AUTH_MARKER

    @property
    def stdout_log(self) -> Path:
        return self.logs_dir / "stdout.log"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    def pid(self) -> int | None:
        """The pid of this node's running JVM, if any."""
        return read_pid(self.pid_file, marker=str(self.config_file), search=True)


@dataclass(frozen=True)
class KafkaDeployment:
    """A set of nodes sharing one cluster id and one controller quorum."""

    name: str
    nodes: tuple[KafkaNode, ...]
    directory: Path
    heap: str

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.broker_port}" for node in self.nodes)

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    @property
    def replication(self) -> int:
        """Replication factor for internal topics: all nodes, at most 3."""
        return min(3, len(self.nodes))


def single_node(settings: StackSettings) -> KafkaDeployment:
    """The development broker, listening on the port of SIGNALPOST_KAFKA_BOOTSTRAP."""
    port = int(settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
    home = settings.home / "kafka" / "single"
    node = KafkaNode(1, port, port + 1, home / "node-1")
    return KafkaDeployment("single", (node,), home, settings.kafka_heap)


def three_node_cluster(settings: StackSettings) -> KafkaDeployment:
    """Three brokers on loopback for the fault-tolerance tests."""
    home = settings.home / "kafka" / "cluster"
    base = settings.kafka_cluster_base_port
    nodes = tuple(
        KafkaNode(n, base + 10 * (n - 1), base + 10 * (n - 1) + 1, home / f"node-{n}")
        for n in (1, 2, 3)
    )
    half = f"{max(256, _heap_mb(settings.kafka_heap) // 2)}m"
    return KafkaDeployment("cluster", nodes, home, half)


def _heap_mb(heap: str) -> int:
    return int(heap[:-1]) * (1024 if heap.endswith("g") else 1)


def kafka_version() -> str:
    """The Kafka version pinned in infra/kafka/pom.xml."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise StackError(f"{POM} does not pin <kafka.version>")
    return match.group(1)


def check_java() -> None:
    """Fail clearly unless a Java 17+ runtime is on PATH."""
    if not shutil.which("java"):
        raise StackError(
            "Java 17 or newer is needed to run Kafka and was not found on PATH; "
            "install it (Debian: apt-get install openjdk-17-jre-headless)"
        )
    banner = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', banner)
    if not match or int(match.group(1)) < MIN_JAVA:
        raise StackError(f"Kafka needs Java {MIN_JAVA} or newer; `java -version` says: {banner}")


def ensure_jars(settings: StackSettings, progress: Progress) -> Path:
    """Copy Kafka's jars into the project's home once per pom (Maven caches the downloads)."""
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()[:10]
    libs = settings.home / "kafka" / f"libs-{kafka_version()}-{pom_hash}"
    if (libs / ".complete").exists():
        return libs
    if not shutil.which("mvn"):
        raise StackError(
            "Maven (mvn) is needed once to fetch Kafka's jars and was not found on PATH; "
            "install it (Debian: apt-get install maven)"
        )
    progress(f"fetching Apache Kafka {kafka_version()} jars with Maven (first run only)")
    staging = libs.with_name(libs.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.monotonic()
    run_checked(
        [
            "mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ],
        what="fetching Kafka's jars with mvn",
    )  # fmt: skip
    (staging / ".complete").write_text(kafka_version())
    staging.rename(libs)
    progress(f"Kafka jars ready in {time.monotonic() - started:.1f}s")
    return libs


def new_cluster_id() -> str:
    """A random cluster id as Kafka writes them (URL-safe base64 of 16 bytes), never starting
    with '-': the storage tool would read such an id as an option (Kafka's own Uuid skips
    them for that reason)."""
    while True:
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not made.startswith("-"):
            return made


def cluster_id(deployment: KafkaDeployment) -> str:
    """The deployment's cluster id, made once and kept beside its nodes."""
    id_file = deployment.directory / "cluster.id"
    if not id_file.exists():
        deployment.directory.mkdir(parents=True, exist_ok=True)
        draft = id_file.with_name(f"cluster.id.{uuid.uuid4().hex}")
        draft.write_text(new_cluster_id())
        # A hard link appears whole or not at all: when nodes are prepared in parallel the
        # first one's id wins and every other node reads that same id.
        with contextlib.suppress(FileExistsError):
            os.link(draft, id_file)
        draft.unlink()
    return id_file.read_text().strip()


@dataclass(frozen=True)
class BrokerSecrets:
    """The administrator's SCRAM password and the controllers' PLAIN password."""

    admin_password: str
    controller_password: str

    @classmethod
    def of(cls, settings: StackSettings) -> BrokerSecrets:
        """The local stack's broker secrets, generated on first use."""
        return cls(
            ensure_secret(settings.home, ADMIN_SECRET),
            ensure_secret(settings.home, CONTROLLER_SECRET),
        )


def server_properties(deployment: KafkaDeployment, node: KafkaNode, secrets: BrokerSecrets) -> str:
    """The KRaft combined-mode configuration of one node: SASL/SCRAM on the client listener,
    the StandardAuthorizer, nothing allowed without an ACL, and one super user to administer."""
    rf = deployment.replication
    scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain_login = "org.apache.kafka.common.security.plain.PlainLoginModule"
    controller = secrets.controller_password
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={deployment.voters}",
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{node.broker_port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{node.broker_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_PLAINTEXT",
            # A PLAINTEXT controller listener is refused once an authorizer is on: the
            # brokers could not register. The controllers authenticate with PLAIN.
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "CONTROLLER:SASL_PLAINTEXT",
            f"sasl.enabled.mechanisms={SCRAM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM}",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_login} "
            f'required username="{ADMIN_USER}" password="{secrets.admin_password}";',
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain_login} required "
            f'username="{ADMIN_USER}" password="{controller}" user_{ADMIN_USER}="{controller}";',
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN_USER}",
            "allow.everyone.if.no.acl.found=false",
            f"log.dirs={node.data_dir}",
            # Topics come from the catalog (`signalpost topics apply`), never from a typo.
            "auto.create.topics.enable=false",
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={min(2, rf)}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={min(2, rf)}",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={min(2, rf)}",
            # A consumer group that joins should not wait 3 s for others that never come.
            "group.initial.rebalance.delay.ms=0",
            # A restarted broker waits out its previous registration's session: keep it short
            # on loopback so restarts and failover tests take seconds, not tens of seconds.
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=3000",
            "num.partitions=1",
            # No connections.max.reauth.ms: aiokafka cannot re-authenticate (KIP-368), so the
            # broker would cut every client's connections each period. Revocation removes the
            # user's ACLs too, and ACLs are checked on every request, open connection or not.
            "",
        ]
    )


def format_storage(
    deployment: KafkaDeployment, node: KafkaNode, libs: Path, secrets: BrokerSecrets
) -> None:
    """Format a node's KRaft storage once, with the administrator's SCRAM credential in its
    first metadata; refuse storage of another cluster, or from before authentication."""
    expected = cluster_id(deployment)
    meta = node.data_dir / "meta.properties"
    if meta.exists():
        found = re.search(r"^cluster\.id=(\S+)", meta.read_text(), re.MULTILINE)
        if found and found.group(1) == expected and node.auth_marker.exists():
            return
        if found and found.group(1) == expected:
            raise StackError(
                f"Kafka data directory {node.data_dir} was made before authentication was on "
                f"and has no administrator; `signalpost kafka reset` deletes the local Kafka "
                f"data and starts afresh"
            )
        raise StackError(
            f"Kafka data directory {node.data_dir} belongs to another cluster or is damaged; "
            f"`signalpost kafka reset` deletes the local Kafka data and starts afresh"
        )
    if node.data_dir.exists() and any(node.data_dir.iterdir()):
        raise StackError(
            f"Kafka data directory {node.data_dir} has files but no meta.properties (damaged); "
            f"`signalpost kafka reset` deletes the local Kafka data and starts afresh"
        )
    run_checked(
        [
            "java", "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
            "-t", expected, "-c", str(node.config_file), "--ignore-formatted",
            "--add-scram", f"{SCRAM}=[name={ADMIN_USER},password={secrets.admin_password}]",
        ],
        what=f"formatting Kafka storage in {node.data_dir}",
    )  # fmt: skip
    node.auth_marker.write_text(ADMIN_USER + "\n")


def _java_command(deployment: KafkaDeployment, node: KafkaNode, libs: Path) -> list[str]:
    return [
        "java",
        f"-Xms{deployment.heap}",
        f"-Xmx{deployment.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={node.logs_dir}",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(node.config_file),
    ]


async def start(deployment: KafkaDeployment, settings: StackSettings, progress: Progress) -> bool:
    """Start every node that is not running and wait until all serve; False if all already ran."""
    stopped = [node for node in deployment.nodes if node.pid() is None]
    launched: dict[KafkaNode, subprocess.Popen[bytes]] = {}
    if stopped:
        check_java()
        variable = _port_variable(deployment)
        for node in stopped:
            require_free_port(node.broker_port, what="Kafka", variable=variable)
            require_free_port(node.controller_port, what="the Kafka controller", variable=variable)
        libs = ensure_jars(settings, progress)
        secrets = BrokerSecrets.of(settings)
        # Each format is a JVM start of a few seconds: run them side by side.
        with ThreadPoolExecutor(max_workers=len(stopped)) as pool:
            list(pool.map(lambda node: _prepare(deployment, node, libs, secrets), stopped))
        launched = {
            node: start_detached(
                _java_command(deployment, node, libs),
                pid_file=node.pid_file,
                log_file=node.stdout_log,
            )
            for node in stopped
        }
        progress(f"Kafka ({deployment.name}) starting on {deployment.bootstrap}")
    started = time.monotonic()
    try:
        await wait_until_serving(
            deployment, settings, timeout=settings.kafka_ready_timeout, launched=launched
        )
    except StackError:
        stop(deployment)  # no half-started cluster is left behind holding the ports
        raise
    if stopped:
        progress(f"Kafka ({deployment.name}) serving after {time.monotonic() - started:.1f}s")
    return bool(stopped)


def _port_variable(deployment: KafkaDeployment) -> str:
    if deployment.name == "single":
        return "SIGNALPOST_KAFKA_BOOTSTRAP"
    return "SIGNALPOST_KAFKA_CLUSTER_BASE_PORT"


def _prepare(
    deployment: KafkaDeployment, node: KafkaNode, libs: Path, secrets: BrokerSecrets
) -> None:
    node.directory.mkdir(parents=True, exist_ok=True)
    _write_config(deployment, node, secrets)
    format_storage(deployment, node, libs, secrets)


def _write_config(deployment: KafkaDeployment, node: KafkaNode, secrets: BrokerSecrets) -> None:
    """Write a node's configuration; it holds the administrator's password, so only its
    owner may read it."""
    fd = os.open(node.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(server_properties(deployment, node, secrets))


async def wait_until_serving(
    deployment: KafkaDeployment,
    settings: StackSettings,
    *,
    timeout: float,
    launched: dict[KafkaNode, subprocess.Popen[bytes]] | None = None,
) -> None:
    """Wait until the brokers answer a metadata request listing all of them.

    `launched` holds the processes this call's caller just started: their exit is seen
    through the handle, which is exact even before the JVM has replaced the forked child.
    """
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        _fail_if_any_died(deployment, launched)
        if not port_in_use(deployment.nodes[0].broker_port):
            await asyncio.sleep(0.2)  # not listening yet; a client would only log refusals
            continue
        try:
            brokers = await asyncio.wait_for(_broker_count(deployment, settings), timeout=3)
        except (KafkaError, OSError, TimeoutError) as exc:
            last_error = repr(exc)
        else:
            if brokers >= len(deployment.nodes):
                return
            last_error = f"{brokers} of {len(deployment.nodes)} brokers registered"
        await asyncio.sleep(0.5)
    raise StackError(
        f"Kafka ({deployment.name}) did not serve within {timeout:.0f}s ({last_error}); "
        f"see {deployment.nodes[0].server_log}"
    )


async def _broker_count(deployment: KafkaDeployment, settings: StackSettings) -> int:
    """Brokers registered, asked as the administrator (nobody else may describe the cluster)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=deployment.bootstrap,
        request_timeout_ms=5000,
        **client_security(administrator(settings)),
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return len(cluster["brokers"])
    finally:
        await admin.close()


def _fail_if_any_died(
    deployment: KafkaDeployment, launched: dict[KafkaNode, subprocess.Popen[bytes]] | None
) -> None:
    for node in deployment.nodes:
        proc = (launched or {}).get(node)
        died = proc.poll() is not None if proc else node.pid() is None
        if died:
            raise StackError(
                f"Kafka node {node.node_id} exited during start-up; last lines of "
                f"{node.server_log}:\n{log_tail(node.server_log)}\n{log_tail(node.stdout_log, 5)}"
            )


def administrator(settings: StackSettings) -> StackSettings:
    """The settings as the local brokers' super user, for what only an administrator does."""
    return settings.model_copy(
        update={
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": SCRAM,
            "kafka_username": ADMIN_USER,
            "kafka_password": None,  # the local secret
        }
    )


def stop(deployment: KafkaDeployment) -> list[int]:
    """Stop every running node cleanly (controlled shutdown); the ids of the nodes stopped."""
    running = {node: pid for node in deployment.nodes if (pid := node.pid()) is not None}
    stop_pids(list(running.values()), timeout=60)
    for node in running:
        node.pid_file.unlink(missing_ok=True)
    return [node.node_id for node in running]


def reset(deployment: KafkaDeployment) -> None:
    """Stop the deployment and delete its data: the only cure for damaged local storage."""
    stop(deployment)
    shutil.rmtree(deployment.directory, ignore_errors=True)
