"""The HTTP API over :mod:`bgremove`: five vendor dialects (Pixian, remove.bg, Replicate, OpenAI, Apiframe),
the API's own route and try-it page, and asynchronous jobs with webhooks; behind API keys, per-key rate
limits and an SSRF-guarded URL fetcher (the dialects' table: :mod:`bgremove_api.dialects.table`)."""
