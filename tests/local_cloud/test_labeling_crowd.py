"""The simulated labeling crowd's answers: from the reference answers, with the Ground Truth workforce's noise
(fast, no cloud)."""

from __future__ import annotations

import http.server
import itertools
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.labeling_crowd import (
    ApiError,
    CrowdSettings,
    LabelingApiClient,
    ReferenceAnswers,
    simulated_answer,
)
from local.sagemaker.box_workforce import BoxNoise
from local.tls import LocalCertificateAuthority

DIGITS = [str(n) for n in range(10)]
SCENE = {
    "source-ref": "s3://b/images/scenes/0.png",
    "image_size": {"width": 96, "height": 80, "depth": 3},
    "annotations": [
        {"class_id": 1, "left": 10, "top": 12, "width": 30, "height": 20},
        {"class_id": 0, "left": 50, "top": 40, "width": 20, "height": 25},
    ],
}


def task(task_type: str, class_names: list[str], source_ref: str) -> dict[str, object]:
    return {
        "job_name": "r-label-0",
        "index": 0,
        "task_type": task_type,
        "class_names": class_names,
        "source_ref": source_ref,
    }


def settings(tmp_path: Path, **overrides: object) -> CrowdSettings:
    return CrowdSettings(reference_labels=tmp_path / "reference.jsonl", **overrides)  # type: ignore[arg-type]


def test_careful_workers_answer_the_reference_class_by_index_or_name(tmp_path: Path) -> None:
    careful = settings(tmp_path, error_rate=0.0)
    for reference in (
        {"source-ref": "s3://b/7.png", "label": 7},
        {"source-ref": "s3://b/7.png", "label": "7"},
    ):
        answer = simulated_answer(
            task("image-classification", DIGITS, "s3://b/7.png"), reference, careful, random.Random(1)
        )
        assert answer == {"label": 7}


def test_careless_workers_err_uniformly_among_the_other_classes(tmp_path: Path) -> None:
    noisy = settings(tmp_path, error_rate=1.0)
    labels = [
        simulated_answer(
            task("image-classification", DIGITS, "s3://b/7.png"),
            {"source-ref": "s3://b/7.png", "label": 7},
            noisy,
            random.Random(seed),
        )["label"]
        for seed in range(300)
    ]
    assert 7 not in labels and set(labels) == set(range(10)) - {7}


def test_box_workers_draw_the_reference_boxes_with_the_image_size(tmp_path: Path) -> None:
    exact = settings(tmp_path, box_noise=BoxNoise(jitter=0.0, miss_rate=0.0, wrong_class_rate=0.0))
    answer = simulated_answer(
        task("object-detection", ["circle", "square"], SCENE["source-ref"]), SCENE, exact, random.Random(0)
    )  # type: ignore[arg-type]
    assert answer == {
        "boxes": [
            {"class_id": 1, "left": 10, "top": 12, "width": 30, "height": 20},
            {"class_id": 0, "left": 50, "top": 40, "width": 20, "height": 25},
        ],
        "image_size": {"width": 96, "height": 80},
    }
    missing = settings(tmp_path, box_noise=BoxNoise(miss_rate=1.0))
    answer = simulated_answer(
        task("object-detection", ["circle", "square"], SCENE["source-ref"]), SCENE, missing, random.Random(0)
    )  # type: ignore[arg-type]
    assert answer["boxes"] == []


def test_a_reference_that_does_not_fit_the_task_fails_naming_the_object(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"s3://b/x\.png"):
        simulated_answer(
            task("image-classification", DIGITS, "s3://b/x.png"),
            {"source-ref": "s3://b/x.png", "label": 12},
            settings(tmp_path),
            random.Random(0),
        )


def test_reference_answers_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "reference.jsonl"
    references = ReferenceAnswers(path)
    assert references.line("s3://b/1.png") is None  # not written yet
    path.write_text(json.dumps({"source-ref": "s3://b/1.png", "label": 1}) + "\n")
    assert references.line("s3://b/1.png") == {"source-ref": "s3://b/1.png", "label": 1}
    path.write_text(
        json.dumps({"source-ref": "s3://b/2.png", "label": 2})
        + "\n"
        + json.dumps({"source-ref": "s3://b/1.png", "label": 3})
        + "\n"
    )
    assert references.line("s3://b/1.png") == {"source-ref": "s3://b/1.png", "label": 3}
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"reference.jsonl:1: not a reference line"):
        references.line("s3://b/1.png")


def test_settings_refuse_impossible_noise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="error_rate"):
        settings(tmp_path, error_rate=1.5)


def test_one_labeler_in_five_is_careless_when_asked(tmp_path: Path) -> None:
    # Given a crowd whose every fifth labeler errs at 0.4 and the others never
    crowd = settings(tmp_path, error_rate=0.0, careless_every=5, careless_error_rate=0.4)
    reference = {"source-ref": "s3://b/7.png", "label": 7}

    def wrong(worker: int) -> int:
        return sum(
            simulated_answer(
                task("image-classification", DIGITS, "s3://b/7.png"),
                reference,
                crowd,
                random.Random(s),
                worker,
            )["label"]
            != 7
            for s in range(1000)
        )

    # Then labelers 4 and 9 are careless (about 400 of 1,000 answers wrong, seeded) and 0..3 never err
    assert [crowd.is_careless(worker) for worker in range(10)] == [False] * 4 + [True] + [False] * 4 + [True]
    assert 340 <= wrong(4) <= 460 and 340 <= wrong(9) <= 460
    assert wrong(0) == wrong(3) == 0
    # and by default nobody is careless
    assert not any(settings(tmp_path).is_careless(worker) for worker in range(10))
    with pytest.raises(ValueError, match="careless_every"):
        settings(tmp_path, careless_every=-1)


class _Api(http.server.BaseHTTPRequestHandler):
    """A labeling API stand-in over HTTPS: answers ``{"path", "connection"}`` (the connection's number);
    ``/fail`` answers 409; after ``/bye`` the server closes the connection without a word."""

    protocol_version = "HTTP/1.1"
    connections = itertools.count()

    def setup(self) -> None:
        super().setup()
        self.number = next(self.connections)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 409 if self.path.endswith("/fail") else 200
        body = json.dumps({"path": self.path, "connection": self.number}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path.endswith("/bye"):
            self.close_connection = True  # closed without Connection: close, like an idle timeout


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca = LocalCertificateAuthority(tmp_path / "ca.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.socket = ca.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/prod", ca.ca_path
    finally:
        server.shutdown()
        server.server_close()


def test_a_labeler_keeps_one_connection_and_reconnects_when_the_server_closed_it(
    api_url: tuple[str, Path],
) -> None:
    # given the crowd's API client for a stage URL
    url, ca_path = api_url
    client = LabelingApiClient(url, ca_path)
    # when one labeler (thread) makes three requests
    answers = [client.call("POST", f"api/jobs/{n}", "token", {"n": n}) for n in range(3)]
    # then they went to the stage's paths over one kept connection
    assert [answer["path"] for answer in answers] == [
        "/prod/api/jobs/0",
        "/prod/api/jobs/1",
        "/prod/api/jobs/2",
    ]
    assert len({answer["connection"] for answer in answers}) == 1
    # and when the server closes the connection after a request, the next request goes on a new one
    closing = client.call("POST", "api/bye", "token")
    after = client.call("POST", "api/jobs/3", "token")
    assert closing["connection"] == answers[0]["connection"] != after["connection"]
    # and an error status is an ApiError with the status and the JSON body, the connection kept
    with pytest.raises(ApiError) as refused:
        client.call("POST", "api/fail", "token")
    assert refused.value.status == 409 and refused.value.body["connection"] == after["connection"]


def test_each_labeler_thread_has_its_own_connection(api_url: tuple[str, Path]) -> None:
    # given one client shared by two labelers (threads)
    url, ca_path = api_url
    client = LabelingApiClient(url, ca_path)
    seen: list[int] = []

    def labeler() -> None:
        seen.extend(client.call("POST", "api/jobs", "token")["connection"] for _ in range(2))

    # when each makes two requests
    threads = [threading.Thread(target=labeler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then two connections served the four requests, two each
    assert len(seen) == 4 and sorted(Counter(seen).values()) == [2, 2]


def test_the_api_must_be_https(tmp_path: Path) -> None:
    # given a plain-HTTP stage URL; when a client is made for it; then it is refused, naming the URL
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1/prod"):
        LabelingApiClient("http://127.0.0.1/prod", tmp_path / "ca.pem")
