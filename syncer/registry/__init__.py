"""The registry client: HTTP with caps and deadlines, auth, credentials, pacing, the API calls."""
