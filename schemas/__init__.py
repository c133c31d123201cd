"""SignalPost's event contracts: the shape of every message on every topic."""
