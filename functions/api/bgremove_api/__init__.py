"""The HTTP API function: Pixian- and remove.bg-compatible dialects over :mod:`bgremove`, behind API keys,
per-key rate limits and an SSRF-guarded URL fetcher."""
