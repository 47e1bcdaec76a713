"""The parameters of a linear model over standardised features, as the answer stage ships them in JSON
(``confidence.json``, ``sentence_ranker.json``)."""

from __future__ import annotations


def read_linear(data: dict) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """``(features, mean, scale, coef)`` from a parsed model file; a zero scale reads as 1 (a constant feature).
    Raises ``ValueError`` when the four differ in length, ``KeyError`` when one is missing."""
    n = len(data["features"])
    if not all(len(data[k]) == n for k in ("mean", "scale", "coef")):
        raise ValueError("features, mean, scale and coef differ in length")
    return (
        tuple(data["features"]),
        tuple(map(float, data["mean"])),
        tuple(float(s) or 1.0 for s in data["scale"]),
        tuple(map(float, data["coef"])),
    )
