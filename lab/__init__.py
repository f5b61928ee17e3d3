"""The lab: real registries and seeded image sets for integration tests and benchmarks."""
