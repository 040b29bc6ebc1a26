"""One Remote* client, made in the main thread, shared by worker threads (Flask's threaded server, FastAPI's sync
endpoints, ``run_in_executor``): over HTTP and gRPC every worker gets the in-process answers, with nothing on stderr,
and after ``close()`` every worker gets ``ModelClosedError``. tritonclient's HTTP client is bound to the thread
that made it ("Cannot switch to a different thread", and a gevent traceback per request, when one was shared)."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from beit_runtime import Classifier
from beit_runtime.errors import ModelClosedError
from beit_runtime.remote import RemoteClassifier
from tests.runtime.serving.triton_server import signature

PROTOCOLS = ("http", "grpc")
WORKERS = 4
CALLS = 3  # per worker


def url(served, protocol: str) -> str:
    return served.http if protocol == "http" else f"grpc://{served.grpc}"


@pytest.fixture(scope="module")
def local_answers(beit_classifier_artifact, photo_bytes):
    with Classifier(beit_classifier_artifact, batch_size=1) as classifier:
        return [signature(classifier(data, top_k=5)) for data in photo_bytes]


def ask_together(remote: RemoteClassifier, photo_bytes: list[bytes]) -> list[list[object]]:
    """Each of ``WORKERS`` threads, all started before any asks, makes ``CALLS`` calls of one image and of all."""
    started = threading.Barrier(WORKERS, timeout=60)

    def worker(index: int) -> list[object]:
        started.wait()
        answers: list[object] = []
        for _ in range(CALLS):
            answers.append(signature(remote(photo_bytes[index % len(photo_bytes)], top_k=5)))
            answers.append([signature(predictions) for predictions in remote(photo_bytes, top_k=5)])
        return answers

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(worker, range(WORKERS)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_client_made_in_one_thread_answers_in_every_thread(served, protocol, photo_bytes, local_answers):
    with RemoteClassifier(url(served, protocol), "cls") as remote:
        assert signature(remote(photo_bytes[0], top_k=5)) == local_answers[0]  # its connection made in this thread
        answers = ask_together(remote, photo_bytes)
    for index, got in enumerate(answers):
        assert got == [local_answers[index % len(photo_bytes)], local_answers] * CALLS


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_closed_client_raises_model_closed_in_every_thread(served, protocol, photo_bytes):
    remote = RemoteClassifier(url(served, protocol), "cls")
    started = threading.Barrier(WORKERS, timeout=60)

    def call(_: int) -> int:
        started.wait()  # WORKERS threads, each with its own client over HTTP once it has called
        return len(remote(photo_bytes[0], top_k=1))

    with ThreadPoolExecutor(WORKERS) as pool:
        assert list(pool.map(call, range(WORKERS))) == [1] * WORKERS
        remote.close()
        for future in [pool.submit(call, index) for index in range(WORKERS)]:
            with pytest.raises(ModelClosedError, match="is closed: create a new one"):
                future.result()
    with ThreadPoolExecutor(1) as pool, pytest.raises(ModelClosedError):
        pool.submit(remote, photo_bytes[0]).result()  # a thread that never called it


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_threads_sharing_a_client_print_nothing_on_stderr(served, protocol, photo_bytes, tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(photo_bytes[0])
    script = (
        "import threading\n"
        "def signature(predictions):\n"
        "    return [(p.label, p.id, round(p.score, 5)) for p in predictions]\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from beit_runtime.remote import RemoteClassifier\n"
        f"remote = RemoteClassifier({url(served, protocol)!r}, 'cls')\n"
        f"want = signature(remote({str(image)!r}, top_k=1))\n"
        f"with ThreadPoolExecutor({WORKERS}) as pool:\n"
        f"    got = list(pool.map(lambda _: list(map(signature, remote([{str(image)!r}] * 3, top_k=1))), range(12)))\n"
        "for _ in range(20):  # a thread per call, as Flask's threaded server makes one per request\n"
        "    thread = threading.Thread(target=remote, args=[" + repr(str(image)) + "])\n"
        "    thread.start()\n"
        "    thread.join()\n"
        "remote.close()\n"
        "print(got == [[want] * 3] * 12)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.stdout.strip() == "True" and result.stderr == "", result.stderr[-2000:]


CLOSE_WHILE_SENDING = """
import sys, threading, time
from beit_runtime.remote import RemoteClassifier
remote = RemoteClassifier(sys.argv[1], 'cls')
images = [sys.argv[2]] * 16
errors, started = [], threading.Barrier(5, timeout=60)
def send():
    started.wait()
    try:
        while True:
            remote(images, top_k=1)
    except Exception as error:
        errors.append(type(error).__name__)
threads = [threading.Thread(target=send) for _ in range(4)]
for thread in threads:
    thread.start()
started.wait()
time.sleep(0.5)
remote.close()
for thread in threads:
    thread.join(120)
print(sorted(errors))
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_closing_while_other_threads_send_raises_model_closed_in_each_and_prints_nothing(served, protocol,
                                                                                      photo_bytes, tmp_path):
    # gRPC's calls in flight failed "Channel closed!" as ServerError / ServerUnavailableError; HTTP's greenlets
    # printed "connection pool closed" tracebacks
    image = tmp_path / "photo.jpg"
    image.write_bytes(photo_bytes[0])
    result = subprocess.run([sys.executable, "-c", CLOSE_WHILE_SENDING, url(served, protocol), str(image)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.stdout.strip() == str(["ModelClosedError"] * WORKERS), (result.stdout, result.stderr[-2000:])
    assert result.stderr == "", result.stderr[-2000:]
