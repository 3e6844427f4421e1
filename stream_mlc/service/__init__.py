"""The Kafka shell around the core: embedded broker, admin, producers, the Faust worker."""
