"""Pure: the acknowledge link's small HTML pages, every value escaped, no script."""

from __future__ import annotations

from html import escape

from services.runtime.acklinks import AckClaim

# Nothing but the page itself and a form back to this origin: no script, no frames, no
# referrer (the link's token is in the URL), never cached.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
STYLE = "body{font:16px/1.5 system-ui,sans-serif;margin:32px auto;max-width:36em;color:#1d2733}"


def page(title: str, *paragraphs: str, form: str = "") -> str:
    """A whole document: the title as heading, the paragraphs (plain text, escaped here)."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · SignalPost</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}{form}</body></html>"
    )


def what(claim: AckClaim) -> str:
    """The sentence naming the task and the person the link acknowledges it as."""
    return (
        f"Incident {claim.incident_id} ({claim.incident_key}), task {claim.task_id} of "
        f"{claim.enterprise}, as {claim.person_name}."
    )


def confirm_page(claim: AckClaim) -> str:
    """The link's page: what it acknowledges, and the one button that does it.

    The button posts to the page's own URL (an empty action), so the token is never copied.
    """
    form = '<form method="post" action=""><button type="submit">Acknowledge</button></form>'
    return page(
        "Acknowledge this task?",
        what(claim),
        f"The link can be used once, until {claim.expires_at.isoformat()}.",
        form=form,
    )


def sent_page(claim: AckClaim, outcome: str, reason: str | None) -> str:
    """What became of the acknowledgement: accepted, refused (with why), or still on its way."""
    said = {
        "accepted": ("Acknowledged", "The incident manager accepted it."),
        "rejected": ("Not acknowledged", f"The incident manager refused it: {reason}."),
        "pending": (
            "Acknowledgement sent",
            "The incident manager has not answered yet; its answer arrives on your task feed.",
        ),
    }
    title, outcome_text = said[outcome]
    return page(title, what(claim), outcome_text)


def refused_page(status: int, reason: str) -> str:
    """A link the gateway will not honour (now), and why."""
    titles = {403: "Not a valid link", 410: "Link no longer valid", 503: "Try again shortly"}
    return page(titles.get(status, "Cannot acknowledge"), reason)
