"""Errors of the recommendation API: each is one line naming what was wrong."""


class RecommendError(ValueError):
    """A request the loaded model cannot answer (bad argument, unknown id, unsupported for this model)."""

    exit_code = 2


class UnknownIdError(RecommendError):
    """A user or item id that is not in the model's dataset.

    Attributes:
        kind (str): ``"user"`` or ``"item"``.
        id (str): the external id as given.
    """

    def __init__(self, kind, external_id, dataset, hint=""):
        self.kind = kind
        self.id = str(external_id)
        super().__init__(f"unknown {kind} id '{self.id}' (not in dataset {dataset}){hint}")


class ModelFileError(RecommendError):
    """A model file that cannot be read or rebuilt (missing dataset, incompatible version)."""

    exit_code = 1
