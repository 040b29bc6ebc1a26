"""``beit-serve``: the ready line, clean stops (SIGTERM, Ctrl-C), setup and usage errors, the numpy guard,
the repository README's curl recipe, and beit_runtime on the serving environment's numpy 1.26."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

from beit_runtime import Classifier, Segmenter
from tests.runtime.serving.triton_server import endpoints, serve_command, start_beit_serve


def processes_of(serve_pid: int) -> list[str]:
    """tritonserver and python stubs started by that beit-serve (their arguments carry its shm prefix)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    table = ps.stdout.splitlines()
    return [line for line in table if f"beit_serve_{serve_pid}_" in line]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_then_a_clean_stop(serve_layout, repositories, tmp_path, signum):
    process, line = start_beit_serve([repositories["cls"]], log=tmp_path / "server.log")
    try:
        http, grpc = endpoints(line)
        assert re.fullmatch(r"127\.0\.0\.1:\d+", http) and re.fullmatch(r"127\.0\.0\.1:\d+", grpc)
        assert "models: cls, cls_engine, cls_postprocess, cls_preprocess" in line
        started = processes_of(process.pid)
        assert len(started) == 4, started  # the server and one stub per python model
    finally:
        process.send_signal(signum)
    assert process.wait(60) == 0
    time.sleep(0.5)
    assert processes_of(process.pid) == []
    assert not list(Path("/dev/shm").glob(f"beit_serve_{process.pid}_*"))


def test_not_set_up_or_not_a_repository(repositories, tmp_path):
    env = {**os.environ, "BEIT_SERVE_HOME": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(serve_command(str(repositories["cls"])), capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 3 and "beit-serve --setup" in done.stderr
    done = subprocess.run(serve_command(str(tmp_path)), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "beit-export triton" in done.stderr


def test_numpy_2_in_the_backend_is_refused_at_load(serve_layout, repositories, tmp_path):
    """Without the numpy<2 environment the stub would run on this python's numpy 2 and corrupt tensors silently."""
    env = {**os.environ, "LD_LIBRARY_PATH": sysconfig.get_config_var("LIBDIR")}
    log = tmp_path / "server.log"
    done = subprocess.run(serve_command(str(repositories["cls"]), "--tritonserver", str(serve_layout.binary),
                                        "--http-port", "0", "--grpc-port", "0", "--log-file", str(log)),
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 1 and "ready" not in done.stdout
    assert "Triton 2.51's stub corrupts tensors with numpy 2" in log.read_text() and "numpy<2" in log.read_text()


def test_readme_curl_recipe(served, photo_bytes, beit_classifier_artifact, tmp_path):
    readme = (served.repositories["cls"] / "README.md").read_text()
    recipe = re.search(r"<!-- curl-infer -->\n```bash\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "cat.jpg").write_bytes(photo_bytes[0])
    done = subprocess.run(["bash", "-c", recipe.replace("127.0.0.1:8000", served.http)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    labels = next(output["data"] for output in answer["outputs"] if output["name"] == "labels")
    with Classifier(beit_classifier_artifact) as classifier:
        assert labels == [p.label for p in classifier(photo_bytes[0], top_k=5)]


CHECK_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])   # the beit_runtime copied into the repository
import numpy, beit_runtime
from beit_runtime import Classifier, Segmenter, Preprocessor, load_image
assert numpy.__version__.startswith("1.26"), numpy.__version__
assert beit_runtime.__file__.startswith(sys.argv[1]), beit_runtime.__file__
paths = sys.argv[4:]
with Classifier(sys.argv[2]) as classifier:
    top = [[(p.id, p.score) for p in row] for row in classifier(paths, top_k=5)]
with Segmenter(sys.argv[3]) as segmenter, Segmenter(sys.argv[3], fused_postprocess=False) as host:
    labels = [r.labels.tolist() for r in segmenter(paths)] + [r.labels.tolist() for r in host(paths)]
pixels = Preprocessor.from_manifest(classifier.manifest).batch([load_image(p) for p in paths])
print(json.dumps({"numpy": numpy.__version__, "top": top, "labels": labels, "pixels": pixels.tolist()}))
"""


def test_beit_runtime_on_the_serving_environments_numpy(serve_layout, repositories, beit_classifier_artifact,
                                                        beit_segmentation_artifact, photo_bytes, tmp_path):
    paths = []
    for index, data in enumerate(photo_bytes[:3]):
        paths.append(tmp_path / f"photo{index}")
        paths[-1].write_bytes(data)
    vendored = repositories["cls"] / "cls_engine" / "1"
    command = [str(serve_layout.env_python), "-c", CHECK_SCRIPT, str(vendored), str(beit_classifier_artifact),
               str(beit_segmentation_artifact), *map(str, paths)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    with Classifier(beit_classifier_artifact) as classifier:
        for got, want in zip(report["top"], classifier([str(p) for p in paths], top_k=5), strict=True):
            assert [i for i, _ in got] == [p.id for p in want]
            np.testing.assert_allclose([s for _, s in got], [p.score for p in want], rtol=0, atol=1e-6)
        pixels = classifier.preprocessor.batch([classifier.load_images(str(p))[0][0] for p in paths])
    np.testing.assert_array_equal(np.array(report["pixels"], dtype=np.float32), pixels)
    names = [str(p) for p in paths]
    with Segmenter(beit_segmentation_artifact) as segmenter, \
            Segmenter(beit_segmentation_artifact, fused_postprocess=False) as host:
        want = [r.labels for r in segmenter(names)] + [r.labels for r in host(names)]
    for got, expected in zip(report["labels"], want, strict=True):
        np.testing.assert_array_equal(np.array(got, dtype=np.int32), expected)
