"""The HTTP server, answered by a real HTTP client on a free port of 127.0.0.1."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from recbole_ext.serve import create_app  # noqa: E402

from trained_checkpoints import checkpoint, data_path, raw_events, recommender  # noqa: E402,F401  (fixtures)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(rec):
    """uvicorn serving ``rec`` in a thread; stopped when the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rec), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def argus_client(recommender):
    with running_server(recommender("ARGUS")) as client:
        yield client


def test_health_and_recommend_answer_as_the_python_api(argus_client, recommender):
    health = argus_client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model": "ARGUS", "dataset": "tiny", "kind": "sequential",
                             "users": 60, "items": 40}
    answer = argus_client.get("/recommend", params={"user": "u3", "k": 5})
    assert answer.status_code == 200
    expected = recommender("ARGUS").recommend(["u3"], k=5)
    body = answer.json()
    assert body["user"] == "u3" and [row["item"] for row in body["items"]] == expected.item.tolist()
    assert [row["rank"] for row in body["items"]] == [1, 2, 3, 4, 5]
    assert body["items"][0]["title"] == expected.title.iloc[0]


def test_similar_and_history_endpoints(argus_client, recommender):
    similar = argus_client.get("/similar", params={"item": "i7", "k": 3}).json()
    assert similar["item"] == "i7" and [row["similar_item"] for row in similar["items"]] == (
        recommender("ARGUS").similar_items(["i7"], k=3).similar_item.tolist()
    )
    session = argus_client.post("/recommend_for_history", json={"items": ["i1", "i5", "i9"], "k": 4})
    assert session.status_code == 200
    assert [row["item"] for row in session.json()["items"]] == (
        recommender("ARGUS").recommend_for_history(["i1", "i5", "i9"], k=4).item.tolist()
    )


def test_unknown_ids_answer_404_naming_the_id(argus_client):
    answer = argus_client.get("/recommend", params={"user": "stranger"})
    assert answer.status_code == 404
    assert answer.json()["id"] == "stranger" and "recommend_for_history" in answer.json()["error"]
    answer = argus_client.post("/recommend_for_history", json={"items": ["i1", "nope"]})
    assert answer.status_code == 404 and answer.json()["id"] == "nope"
    assert argus_client.get("/similar", params={"item": "zzz"}).json()["kind"] == "item"


def test_bad_parameters_answer_422(argus_client):
    assert argus_client.get("/recommend", params={"user": "u1", "k": 0}).status_code == 422
    assert argus_client.get("/recommend", params={"user": "u1", "k": "ten"}).status_code == 422
    assert argus_client.get("/recommend").status_code == 422
    assert argus_client.post("/recommend_for_history", json={"items": []}).status_code == 422
    answer = argus_client.post("/recommend_for_history", json={"items": ["i1", "i2"], "timestamps": [1.0]})
    assert answer.status_code == 422 and "one per item" in answer.json()["error"]


def test_concurrent_requests_get_their_own_answers(argus_client, recommender):
    users = [f"u{number}" for number in range(24)]
    expected = recommender("ARGUS").recommend(users, k=3)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda user: argus_client.get("/recommend", params={"user": user, "k": 3}), users))
    for user, answer in zip(users, answers):
        assert [row["item"] for row in answer.json()["items"]] == expected[expected.user == user].item.tolist()


def test_a_general_model_refuses_sessions_with_422(recommender):
    with running_server(recommender("WALS")) as client:
        assert client.get("/recommend", params={"user": "u2", "k": 2}).status_code == 200
        answer = client.post("/recommend_for_history", json={"items": ["i1"]})
        assert answer.status_code == 422 and "needs a sequential model" in answer.json()["error"]


def test_run_py_serve_answers_until_stopped(checkpoint, repo_root):
    """``run.py --serve`` in its own process: loads the model once, answers, stops on SIGTERM."""
    import os
    import subprocess
    import sys

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(repo_root / "run.py"), "--serve", f"--model_file={checkpoint('WALS')}",
         "--host=127.0.0.1", f"--port={port}"],
        env={**os.environ, "PYTHONPATH": str(repo_root)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert health.json()["model"] == "WALS"
        answer = httpx.get(f"http://127.0.0.1:{port}/recommend", params={"user": "u8", "k": 2}, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["items"]) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)
