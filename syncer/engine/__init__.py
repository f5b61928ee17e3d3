"""The one copy path both executors share: resolve, copy blobs, push."""
