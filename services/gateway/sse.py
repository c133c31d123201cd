"""Server-sent events read line by line (the CLI's and the tests' side of the task stream)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event: its type, data and the last id seen."""

    event: str
    data: str
    id: str | None


@dataclass
class EventDecoder:
    """Feed it lines without their line ends; it returns an event at each blank line."""

    last_id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> ServerEvent | None:
        """The event this line completes, or None (comments and id-only blocks give none)."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        return ServerEvent(event, "\n".join(data), self.last_id) if data else None
