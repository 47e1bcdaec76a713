"""Stage 3: embed passages and questions. Nothing heavy is imported until an encoder is loaded."""

from tripsearch.embed.models import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "load_encoder"]


def load_encoder(model: str | None = None):
    """The encoder for ``model`` (default all-MiniLM-L6-v2)."""
    from tripsearch.embed.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model)
