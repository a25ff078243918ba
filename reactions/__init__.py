"""reactions: what people are saying about a news story, with the posts to prove it."""

__version__ = "0.1.0"
