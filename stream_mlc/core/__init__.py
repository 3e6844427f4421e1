"""The pure core: learners, join buffer, metrics, thresholds, drift. No Faust or Kafka imports."""
