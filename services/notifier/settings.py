"""The notifier's settings: its rosters, how it retries, and where webhooks, mail and SMS go."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from schemas.registry import REFERENCE_REGISTRY
from services.runtime.acklinks import ACK_LINK_SECRET
from services.runtime.secrets import ensure_secret
from services.runtime.settings import Settings

DEFAULT_GROUP = "signalpost-notifier"
WEBHOOK_SECRET = "notifier-webhook-secret"


class NotifierSettings(Settings):
    """Settings of `signalpost run notifier` (variables SIGNALPOST_NOTIFIER_*)."""

    notifier_registry_dir: Path = Field(
        default=REFERENCE_REGISTRY,
        description="Registry directory whose rosters/ folder names the people and channels.",
    )
    notifier_group_id: str | None = Field(
        default=None,
        min_length=1,
        description="Kafka consumer group on incidents.events; unset: the topic prefix "
        "followed by signalpost-notifier.",
    )
    notifier_roster_refresh_seconds: float = Field(
        default=10.0,
        ge=0,
        description="When an event names someone the notifier's rosters do not know, it reads "
        "the rosters the incident manager put in force on rosters.activations, at most this "
        "often.",
    )
    notifier_batch_max: int = Field(
        default=500, ge=1, le=100_000, description="Most lifecycle events taken per batch."
    )
    notifier_poll_ms: int = Field(
        default=200, ge=1, le=60_000, description="How long one poll waits for events."
    )
    notifier_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Tries per notification before its dead letter."
    )
    notifier_retry_base_seconds: float = Field(
        default=0.5, gt=0, description="First back-off step between tries; it doubles."
    )
    notifier_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest back-off, between tries and after a broker error."
    )
    notifier_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one webhook, SMS or SMTP exchange may take."
    )
    notifier_concurrency: int = Field(
        default=100, ge=1, le=10_000, description="Most deliveries in progress at once."
    )
    notifier_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret of webhooks whose channel names no secret_env; unset: the "
        "local secret notifier-webhook-secret (made on first start).",
    )
    notifier_ack_link_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the acknowledge links, shared with the gateway; unset: the "
        "local secret ack-link-secret.",
    )
    notifier_ack_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Where acknowledge links point (…/v1/ack/<token>); unset: gateway_url.",
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:28080",
        pattern=r"^https?://",
        description="The gateway's URL (SIGNALPOST_GATEWAY_URL), the acknowledge links' default.",
    )
    notifier_ack_link_ttl_seconds: int = Field(
        default=4 * 3600, ge=60, description="How long an acknowledge link stays valid."
    )
    notifier_smtp_host: str = Field(default="127.0.0.1", description="SMTP server's host.")
    notifier_smtp_port: int = Field(
        default=8025,
        ge=1,
        le=65535,
        description="SMTP port; the default is `signalpost inbox`'s, the local stand-in for "
        "the people's mail and webhooks (a deployment names its mail server).",
    )
    notifier_smtp_from: str = Field(
        default="signalpost@localhost", description="The From address of every e-mail."
    )
    notifier_smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    notifier_smtp_username: str | None = Field(
        default=None, description="SMTP login; unset: send without authenticating."
    )
    notifier_smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password, with notifier_smtp_username."
    )
    notifier_sms_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="HTTP SMS gateway taking POST {to, text}; unset: SMS notifications are "
        "dead-lettered at once as not configured.",
    )
    notifier_sms_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the SMS gateway."
    )

    @property
    def group_id(self) -> str:
        """The consumer group: as set, else one per topic prefix."""
        return self.notifier_group_id or f"{self.topic_prefix}{DEFAULT_GROUP}"

    @property
    def ack_base_url(self) -> str:
        """The base of acknowledge links, without a trailing slash."""
        return (self.notifier_ack_base_url or self.gateway_url).rstrip("/")

    def webhook_secret(self) -> str:
        """The secret webhooks are signed with when their channel names none."""
        return self._secret(self.notifier_webhook_secret, WEBHOOK_SECRET)

    def ack_link_secret(self) -> str:
        """The secret acknowledge links are signed with (the gateway checks them with it)."""
        return self._secret(self.notifier_ack_link_secret, ACK_LINK_SECRET)

    def _secret(self, given: SecretStr | None, local: str) -> str:
        return given.get_secret_value() if given else ensure_secret(self.home, local)
