"""The gateway: HTTP for publishers and dispatchers, live task streams, per-enterprise tokens."""

from services.gateway.access import Role, token_problem
from services.gateway.commands import ACTIONS, SERVER_FIELDS
from services.gateway.intake import KINDS
from services.gateway.settings import GatewaySettings
from services.gateway.sse import EventDecoder
from services.gateway.tokens import NewToken, create_token, list_tokens, revoke_token

__all__ = [
    "ACTIONS",
    "KINDS",
    "SERVER_FIELDS",
    "EventDecoder",
    "GatewaySettings",
    "NewToken",
    "Role",
    "create_token",
    "list_tokens",
    "revoke_token",
    "token_problem",
]
