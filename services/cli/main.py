"""Entry point of the `signalpost` command."""


def main() -> None:
    """Parse the command line and run the chosen command."""
    raise SystemExit("not yet")
