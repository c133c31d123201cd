"""The one `signalpost` command."""
