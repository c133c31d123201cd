"""The local stack: Apache Kafka (KRaft) and PostgreSQL run from real binaries, no Docker."""
