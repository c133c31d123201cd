"""The project's exception base, and the contract errors every stage reports the same way."""


class SignalPostError(Exception):
    """Base of every error SignalPost raises on purpose."""
