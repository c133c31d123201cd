"""SignalPost services and the runtime they share."""
