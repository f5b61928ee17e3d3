"""OCI image layouts and archives on disk, as sources and destinations (oci:, oci-archive:)."""
