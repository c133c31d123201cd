"""What every service shares: settings, logging, errors, Kafka clients, database pool, topics."""
