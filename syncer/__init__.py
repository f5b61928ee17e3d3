"""syncer: copy container images between Docker Registry V2 / OCI registries."""

__version__ = "0.1.0"
