"""Text processing: cleaning, language, near-duplicates, embeddings, stance, themes, summaries."""
