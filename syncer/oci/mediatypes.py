"""Media types syncer understands, each with the spec that defines it."""

from __future__ import annotations

# https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# https://github.com/distribution/distribution/blob/main/docs/content/spec/deprecated-schema-v1.md
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# https://github.com/opencontainers/image-spec/blob/main/manifest.md
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# https://github.com/opencontainers/image-spec/blob/main/image-index.md
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# https://github.com/opencontainers/image-spec/blob/main/config.md
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# https://github.com/opencontainers/image-spec/blob/main/layer.md
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# Non-distributable layers live elsewhere (their descriptor's "urls"); they are
# never pushed to a registry, so we never copy them either.
# https://github.com/opencontainers/image-spec/blob/main/layer.md#non-distributable-layers
OCI_NONDISTRIBUTABLE_PREFIX = "application/vnd.oci.image.layer.nondistributable."

INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

#: Sent as ``Accept`` on every manifest request, most specific first, so that a
#: registry never down-converts to schema1 when it can serve the real manifest.
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_V1_SIGNED,
        DOCKER_MANIFEST_V1,
    ]
)


def is_foreign_layer(media_type: str) -> bool:
    """Whether a layer must not be copied between registries."""
    return media_type == DOCKER_FOREIGN_LAYER or media_type.startswith(OCI_NONDISTRIBUTABLE_PREFIX)


#: The empty config of an artifact manifest, with the spec's fixed digest.
#: https://github.com/opencontainers/image-spec/blob/main/manifest.md#guidance-for-an-empty-descriptor
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
