"""Recommendations out of a trained model: Python API, export, command line (see docs/recommend.md)."""

from recbole_ext.recommend.errors import ModelFileError, RecommendError, UnknownIdError
from recbole_ext.recommend.recommender import Recommender

__all__ = ["Recommender", "RecommendError", "UnknownIdError", "ModelFileError"]
