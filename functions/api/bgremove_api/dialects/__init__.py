"""The HTTP dialects: each maps one vendor's request and response names onto :class:`bgremove.Options` and
the engine's report, and renders every error in that vendor's shape. ``common`` holds what they share."""
