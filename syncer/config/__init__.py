"""Configuration: image-syncer's files, syncer's rules, tag filters, platforms."""
