"""Collectors: one module per platform, each turning API responses into `Post`s."""
