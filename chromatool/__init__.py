"""chromatool: chroma features, alignment and retrieval for classical music recordings and scores."""
__version__ = "0.1.0"
