"""HTTP serving of a trained model (FastAPI + uvicorn, the optional ``serve`` extra).

    python run.py --serve --model_file=F [--host=127.0.0.1] [--port=8000]

Endpoints (JSON answers):

* ``GET /recommend?user=196&k=10[&filter_seen=true]``: the user's top-k;
* ``GET /similar?item=50&k=10``: items with the most similar vectors;
* ``POST /recommend_for_history`` with ``{"items": [...], "timestamps": [...],
  "feedback": [...], "k": 10}``: a new session's top-k (sequential models);
* ``GET /health``: the model, its dataset and sizes.

An unknown user or item id answers 404 with ``{"error": ..., "id": ...}``; a
bad parameter 422; a request the model cannot answer (e.g. a session for a
general model) 422 with one error line. The model is loaded once, before
the server accepts requests; requests are answered concurrently from a
thread pool (the model is only read).
"""

from typing import Dict, List, Optional, Union

from recbole_ext.errors import require
from recbole_ext.recommend import Recommender
from recbole_ext.recommend.errors import RecommendError, UnknownIdError

MAX_K = 1000


def _records(frame, drop=()):
    return frame.drop(columns=list(drop)).to_dict(orient="records")


def create_app(recommender):
    """The FastAPI application answering for ``recommender``."""
    require("fastapi", "serve", "the HTTP server")
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    app = FastAPI(title=f"recbole_ext: {recommender.model_name} on {recommender.dataset_name}")

    class History(BaseModel):
        items: List[Union[str, int]] = Field(min_length=1)
        timestamps: Optional[List[float]] = None
        feedback: Optional[Union[List[float], Dict[str, List[float]]]] = None
        k: int = Field(10, ge=1, le=MAX_K)
        filter_seen: bool = True

    @app.exception_handler(UnknownIdError)
    def unknown_id(request: Request, error: UnknownIdError):
        return JSONResponse(status_code=404, content={"error": str(error), "kind": error.kind, "id": error.id})

    @app.exception_handler(RecommendError)
    def cannot_answer(request: Request, error: RecommendError):
        return JSONResponse(status_code=422, content={"error": str(error)})

    @app.get("/health")
    def health():
        return {
            "status": "ok",
            "model": recommender.model_name,
            "dataset": recommender.dataset_name,
            "kind": recommender.kind,
            "users": len(recommender.users) - 1,
            "items": len(recommender.items) - 1,
        }

    @app.get("/recommend")
    def recommend(user: str, k: int = Query(10, ge=1, le=MAX_K), filter_seen: bool = True):
        frame = recommender.recommend([user], k=k, filter_seen=filter_seen)
        return {"user": user, "items": _records(frame, drop=["user"])}

    @app.get("/similar")
    def similar(item: str, k: int = Query(10, ge=1, le=MAX_K)):
        frame = recommender.similar_items([item], k=k)
        return {"item": item, "items": _records(frame, drop=["item"])}

    @app.post("/recommend_for_history")
    def recommend_for_history(history: History):
        frame = recommender.recommend_for_history(
            history.items, timestamps=history.timestamps, feedback=history.feedback, k=history.k,
            filter_seen=history.filter_seen,
        )
        return {"items": _records(frame)}

    return app


def serve(model_file, host="127.0.0.1", port=8000, data_path=None):
    """Load ``model_file`` once and answer HTTP requests until interrupted."""
    uvicorn = require("uvicorn", "serve", "the HTTP server")
    recommender = Recommender.from_checkpoint(model_file, data_path=data_path)
    print(f"serving {recommender.model_name} on {recommender.dataset_name} at http://{host}:{port}", flush=True)
    uvicorn.run(create_app(recommender), host=host, port=port, log_level="warning")
