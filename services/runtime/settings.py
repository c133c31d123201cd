"""Settings: one frozen pydantic-settings class per service, on one base (prefix SIGNALPOST_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.dburls import DatabaseUrl, explicit_password, role_of, written
from services.runtime.errors import ConfigurationError

ENV_PREFIX = "SIGNALPOST_"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The roles' URLs: the recorder's, the gateway's, the owner's, the auditor's.
DATABASE_URL_FIELDS = (
    "database_url",
    "gateway_database_url",
    "owner_database_url",
    "auditor_database_url",
)


class Settings(BaseSettings):
    """What every SignalPost process reads: where Kafka and PostgreSQL are, and how to log."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    home: Path = Field(
        default=PROJECT_ROOT / ".signalpost",
        description="Directory for local state: Kafka and PostgreSQL data, logs, pid files.",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:29092",
        description="Kafka bootstrap servers, host:port[,host:port...].",
    )
    kafka_session_timeout_ms: int = Field(
        default=6000,
        ge=1000,
        le=300_000,
        description="How long a silent consumer keeps its partitions: after a kill -9 its "
        "partitions move to the others (or its restart) this much later. Heartbeats go at a "
        "third of it. The broker's group.min.session.timeout.ms (6000 by default) bounds it.",
    )
    kafka_group_instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="Static membership: this process's fixed id in its service's consumer "
        "group, unique among that service's instances. Restarted with the same id, a service "
        "takes its partitions back at once instead of after the session timeout; stopped, it "
        "keeps them for the session timeout. Unset: dynamic membership. `signalpost up` sets "
        "one per service.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="SASL_PLAINTEXT",
        description="How every Kafka client (producer, consumer, admin, the incident "
        "manager's faust worker) talks to the brokers: SASL_* authenticate with "
        "kafka_username and kafka_password, *SSL encrypt and check the brokers' certificate. "
        "The local brokers take SASL_PLAINTEXT only.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism, for the SASL_* protocols."
    )
    kafka_username: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="SASL user (the Kafka principal's name). Unset: the local brokers' "
        "administrator, which is for a developer's machine only; `signalpost up` runs each "
        "service as its own user.",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        description="SASL password. Unset: the local secret that `signalpost kafka start` "
        "or `signalpost kafka users create` wrote for the user (HOME/secrets/kafka-USER).",
    )
    kafka_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates, for the *SSL "
        "protocols; unset: the system's CAs.",
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prefix put before every topic name (tests use one per test).",
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Replication factor of SignalPost's topics (1 locally, 3 on a real cluster).",
    )
    # A URL without a password uses the local secret postgres-<role> (services/runtime/dburls.py),
    # which `signalpost postgres start` generates; a managed server's URL carries its own.
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://signalpost@127.0.0.1:25432/signalpost"),
        validate_default=True,
        description="PostgreSQL URL of the recorder's role (appends history, upserts the "
        "projections and its offsets); the local server listens on its port.",
    )
    gateway_database_url: SecretStr = Field(
        default=SecretStr("postgresql://signalpost_gateway@127.0.0.1:25432/signalpost"),
        validate_default=True,
        description="PostgreSQL URL of the gateway's role (reads tokens and timelines, "
        "appends accepted reports, notes a token's last use).",
    )
    owner_database_url: SecretStr = Field(
        default=SecretStr("postgresql://signalpost_owner@127.0.0.1:25432/signalpost"),
        validate_default=True,
        description="PostgreSQL URL of the role that owns the schema, runs migrations and "
        "makes API tokens.",
    )
    auditor_database_url: SecretStr = Field(
        default=SecretStr("postgresql://signalpost_auditor@127.0.0.1:25432/signalpost"),
        validate_default=True,
        description="PostgreSQL URL of the read-only auditor role.",
    )
    db_schema: str = Field(
        default="signalpost",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema holding SignalPost's tables (tests use one per test).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level of log lines written."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: coloured on a terminal, JSON lines otherwise."
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_port_list(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not (host and sep and port.isdigit() and 0 < int(port) < 65536):
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    @field_validator(*DATABASE_URL_FIELDS, mode="after")
    @classmethod
    def _url_is_postgres(cls, value: SecretStr, info: ValidationInfo) -> DatabaseUrl:
        url = written(value)
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ValueError("expected postgresql://user[:password]@host:port/database")
        if not role_of(value):
            raise ValueError("the URL names no user (the role to log in as)")
        if explicit_password(value) == role_of(value):
            raise ValueError(
                f"role {role_of(value)}'s password is its own name; leave the password out of "
                "the URL and the local stack generates one"
            )
        # A URL taken from other settings (model_validate of a model_dump) keeps the home its
        # password is kept in, even where the copy moved `home` for other state.
        home = (
            value.home
            if isinstance(value, DatabaseUrl)
            else info.data.get("home", PROJECT_ROOT / ".signalpost")
        )
        assert info.field_name is not None  # a field validator always names its field
        return DatabaseUrl(url, home=home, variable=env_var_name(cls, info.field_name))

    @property
    def database_port(self) -> int:
        """Port of the PostgreSQL server named by database_url."""
        return urlsplit(written(self.database_url)).port or 5432

    @property
    def database_name(self) -> str:
        """Database named by database_url."""
        return urlsplit(written(self.database_url)).path.lstrip("/") or "signalpost"


SettingsT = TypeVar("SettingsT", bound=Settings)


def env_var_name(settings_cls: type[Settings], field: str) -> str:
    """The environment variable that sets `field` of `settings_cls`."""
    prefix = settings_cls.model_config.get("env_prefix", ENV_PREFIX)
    return f"{prefix}{field}".upper()


def load_settings(settings_cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read settings once at start-up; a bad value fails with the variable's name and reason."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        problems = [
            f"{env_var_name(settings_cls, str(err['loc'][0]))}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigurationError("bad settings: " + "; ".join(problems)) from None
