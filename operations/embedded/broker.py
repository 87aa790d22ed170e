"""The embedded broker: Apache Kafka 4.x, single-node KRaft (broker and controller in one JVM).

The jars come from Maven Central (``embedded-kafka/pom.xml``, resolved by ``make setup`` into
``.venv/kafka-libs``); nothing is downloaded at run time. The broker keeps its log under the run
directory, so a restart (clean or after SIGKILL) loses nothing that it acknowledged: the data directory
is formatted once, on first start, and reused after that. Retention by time and by size keeps the
disk bounded, and a fetch is answered as soon as data is appended (Kafka's fetch purgatory), so a
hop through it costs a millisecond or two instead of a sleep.

The Prometheus JMX exporter runs inside the same JVM as a Java agent, so the broker's own request
latency, bytes in and out and log sizes reach Prometheus like every other service's metrics.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from operations.embedded.process import ManagedProcess, ServiceFailed
from operations.embedded.tls import Certificate, ensure_ca, ensure_certificate
from taxifraud.config import REPO_ROOT

log = logging.getLogger(__name__)

#: Broker support files kept in the repository: the pom that pins the jars, log4j2 and exporter configs.
SUPPORT_DIR = REPO_ROOT / "embedded-kafka"
#: Where ``make setup`` puts the resolved jars (outside git, reused across runs).
DEFAULT_LIBS_DIR = REPO_ROOT / ".venv" / "kafka-libs"
JMX_AGENT_PREFIX = "jmx_prometheus_javaagent"
NODE_ID = 1


@dataclass(frozen=True)
class BrokerSecurity:
    """A SASL_SSL client listener: TLS with the stack's own CA, SCRAM logins.

    Two users are created when the storage is formatted (KRaft keeps SCRAM credentials in its metadata
    log): ``admin``, which the broker itself uses, and ``taxifraud``, which every service of the stack
    gets. Their passwords are generated once and kept in ``directory/kafka-credentials.json`` (0600).
    The controller listener is TLS with client certificates required, so nothing without the CA-signed
    broker key can talk to the controller either.
    """

    directory: Path
    mechanism: str = "SCRAM-SHA-512"
    admin_user: str = "admin"
    client_user: str = "taxifraud"

    @property
    def credentials_file(self) -> Path:
        return self.directory / "kafka-credentials.json"

    def passwords(self) -> dict[str, str]:
        """user -> password, created on first use."""
        path = self.credentials_file
        if path.exists():
            return dict(json.loads(path.read_text()))
        self.directory.mkdir(parents=True, exist_ok=True)
        users = {self.admin_user: secrets.token_urlsafe(24), self.client_user: secrets.token_urlsafe(24)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(users, out)
        return users

    def ca_file(self) -> Path:
        return ensure_ca(self.directory).cert

    def broker_certificate(self) -> Certificate:
        return ensure_certificate(self.directory, "kafka-broker")

    def client_config(self, bootstrap: str, user: str | None = None) -> dict[str, Any]:
        """librdkafka settings for ``user`` (default: the services' user) on this listener."""
        user = user or self.client_user
        return {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": self.mechanism,
            "sasl.username": user,
            "sasl.password": self.passwords()[user],
            "ssl.ca.location": str(self.ca_file()),
        }

    def client_env(self) -> dict[str, str]:
        """What a child service needs in its environment to log in as the services' user."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": self.mechanism,
            "KAFKA_SASL_USERNAME": self.client_user,
            "KAFKA_SASL_PASSWORD": self.passwords()[self.client_user],
            "KAFKA_SSL_CA_FILE": str(self.ca_file()),
        }


@dataclass(frozen=True)
class BrokerOptions:
    """Everything one embedded broker needs; ``StackSettings.broker_options()`` builds it from ``STACK_*``."""

    host: str
    port: int
    controller_port: int
    data_dir: Path
    log_path: Path
    metrics_port: int | None = None  # JMX exporter; None: no metrics endpoint
    partitions: int = 6  # default for auto-created topics
    heap_mb: int = 384
    retention_hours: float = 24.0
    retention_bytes: int = 1 << 30  # per partition
    segment_bytes: int = 64 << 20  # retention deletes whole segments, so they stay small
    libs_dir: Path = DEFAULT_LIBS_DIR
    security: BrokerSecurity | None = None  # None: a PLAINTEXT listener

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def admin_config(self) -> dict[str, Any]:
        """How the supervisor's own admin client reaches this broker (as ``admin`` when secured)."""
        if self.security is None:
            return {"bootstrap.servers": self.bootstrap}
        return self.security.client_config(self.bootstrap, self.security.admin_user)


def libs_dir(options: BrokerOptions) -> Path:
    path = options.libs_dir
    if not any(path.glob("kafka_2.13-*.jar")):
        raise FileNotFoundError(
            f"no Kafka jars in {path}: run `make setup` (it resolves embedded-kafka/pom.xml from Maven Central)"
        )
    return path


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise FileNotFoundError("java not found: the embedded Kafka needs Java >= 17 (`make setup` installs it)")
    return java


def classpath(libs: Path) -> str:
    """Every resolved jar except the exporter agent, which is loaded with -javaagent instead."""
    jars = sorted(p for p in libs.glob("*.jar") if not p.name.startswith(JMX_AGENT_PREFIX))
    return os.pathsep.join(str(p) for p in jars)


def jmx_agent(libs: Path) -> Path:
    agents = sorted(libs.glob(f"{JMX_AGENT_PREFIX}-*.jar"))
    if not agents:
        raise FileNotFoundError(f"no {JMX_AGENT_PREFIX} jar in {libs}: run `make setup`")
    return agents[-1]


def _listener_properties(o: BrokerOptions) -> dict[str, str]:
    if o.security is None:
        return {
            "listeners": f"PLAINTEXT://{o.host}:{o.port},CONTROLLER://{o.host}:{o.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{o.host}:{o.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
        }
    sec = o.security
    cert = sec.broker_certificate()
    mech = sec.mechanism.lower()
    admin_password = sec.passwords()[sec.admin_user]
    return {
        "listeners": f"SASL_SSL://{o.host}:{o.port},CONTROLLER://{o.host}:{o.controller_port}",
        "advertised.listeners": f"SASL_SSL://{o.host}:{o.port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": sec.mechanism,
        "sasl.mechanism.inter.broker.protocol": sec.mechanism,
        f"listener.name.sasl_ssl.{mech}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{sec.admin_user}" password="{admin_password}";'
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(cert.pem),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(sec.ca_file()),
        "ssl.endpoint.identification.algorithm": "https",
        "listener.name.controller.ssl.client.auth": "required",
    }


def server_properties(o: BrokerOptions) -> str:
    """``server.properties`` for one combined broker+controller node with replication factor 1."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        **_listener_properties(o),
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.bootstrap.servers": f"{o.host}:{o.controller_port}",
        "log.dirs": str(o.data_dir.resolve()),
        "num.partitions": str(o.partitions),
        # One node: every internal topic has one replica, or it never becomes available.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "6",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # A consumer's first join would otherwise wait 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # Retention: by time and by size per partition, checked every 30 s, in small segments.
        "log.retention.ms": str(int(o.retention_hours * 3600 * 1000)),
        "log.retention.bytes": str(o.retention_bytes),
        "log.segment.bytes": str(o.segment_bytes),
        "log.retention.check.interval.ms": "30000",
        # Two cores: Kafka's defaults (3 network, 8 I/O threads) only add context switches here.
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "num.recovery.threads.per.data.dir": "1",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's ``Uuid`` form)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka's own generator avoids these too (they read as CLI flags)
            return cid


def is_formatted(data_dir: Path) -> bool:
    return (data_dir / "meta.properties").exists()


def java_argv(o: BrokerOptions, main_class: str, *args: str) -> list[str]:
    libs = libs_dir(o)
    heap = f"{o.heap_mb}m"
    argv = [
        java_binary(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        # Commit the whole heap at start: resident memory is then flat from the first minute, not creeping
        # up as G1 first touches its regions (which a soak would read as a leak).
        "-XX:+AlwaysPreTouch",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={SUPPORT_DIR / 'log4j2.xml'}",
        f"-Dkafka.logs.dir={o.data_dir.parent}",
    ]
    if o.metrics_port is not None and main_class == "kafka.Kafka":
        agent = jmx_agent(libs)
        argv.append(f"-javaagent:{agent}={o.host}:{o.metrics_port}:{SUPPORT_DIR / 'jmx-exporter.yml'}")
    return [*argv, "-cp", classpath(libs), main_class, *args]


def format_storage(o: BrokerOptions, config: Path) -> None:
    """Format the data directory once (a KRaft node refuses to start on an unformatted one)."""
    if is_formatted(o.data_dir):
        return
    o.data_dir.mkdir(parents=True, exist_ok=True)
    cid = new_cluster_id()
    scram: list[str] = []
    if o.security is not None:  # the SCRAM users live in the metadata log, so they are created with it
        for user, password in o.security.passwords().items():
            scram += ["--add-scram", f"{o.security.mechanism}=[name={user},password={password}]"]
    argv = java_argv(o, "kafka.tools.StorageTool", "format", "-t", cid, "-c", str(config), "--standalone", *scram)
    log.info("formatting Kafka storage in %s (cluster id %s)", o.data_dir, cid)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ServiceFailed(f"kafka storage format failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")


def broker_process(o: BrokerOptions) -> ManagedProcess:
    """Write the config, format storage if this is the first start, and return the (unstarted) broker."""
    config = o.data_dir.parent / f"{o.data_dir.name}.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold the broker's own password
    with os.fdopen(fd, "w") as out:
        out.write(server_properties(o))
    format_storage(o, config)
    return ManagedProcess("broker", java_argv(o, "kafka.Kafka", str(config)), o.log_path)


class ReadinessProbe:
    """Ready means a metadata request answers and names this node as a broker.

    One admin client for every probe of a start: it keeps reconnecting by itself while the JVM comes
    up, instead of a new client (threads, sockets) every tenth of a second.
    """

    def __init__(self, client_config: dict[str, Any]) -> None:
        # log_level 2: no "connection refused" line for every attempt while the JVM starts
        self._admin = AdminClient({**client_config, "socket.connection.setup.timeout.ms": 1000, "log_level": 2})

    def __call__(self, timeout: float = 1.0) -> bool:
        return NODE_ID in self._admin.list_topics(timeout=timeout).brokers


def start_broker(o: BrokerOptions, timeout: float = 90.0) -> ManagedProcess:
    proc = broker_process(o).start()
    proc.wait_ready(ReadinessProbe(o.admin_config()), timeout, what="answering metadata requests")
    return proc
