"""Developer tooling: sample data, packaging, benchmarks. Not shipped to the cluster."""
