"""`make lab`: the JupyterLab server started as the Makefile starts it serves the notebooks over its REST API, runs a
notebook's cells on an `ainkit` kernel over the kernel's websocket, shows the figure a cell writes, and draws tqdm
progress bars as widgets; then it is shut down."""
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from ainkit.reproduction import lab
from ainkit.ground.paths import NOTEBOOKS, ROOT
from ainkit.reproduction.reproduce import discover

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")  # websocket-client, a dependency of jupyter_server

NOTEBOOK = "07_human_feedback_survey"
WIDGET = "application/vnd.jupyter.widget-view+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_makefile_runs_ainkit_lab():
    """`make lab ARGS=...` is `python -m ainkit.reproduction.lab ARGS`, the command the server test below runs."""
    if not shutil.which("make"):
        pytest.skip("no make on this machine")
    proc = subprocess.run(["make", "-n", "--no-print-directory", "lab", "ARGS=--port 1 --no-browser"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "ainkit.reproduction.lab" in l)
    assert shlex.split(line)[1:] == ["-m", "ainkit.reproduction.lab", "--port", "1", "--no-browser"]


def test_command_serves_notebooks_with_the_kit_kernel():
    cmd = lab.command(port=8123, token="t", browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={NOTEBOOKS}" in cmd and "--MultiKernelManager.default_kernel_name=ainkit" in cmd
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)


class Kernel:
    """One kernel of the server, driven over /api/kernels/<id>/channels (Jupyter messaging protocol, JSON frames)."""

    def __init__(self, base: str, token: str, kernel_id: str):
        url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?token={token}"
        self.ws = websocket.create_connection(url, timeout=30)
        self.session = uuid.uuid4().hex

    def request(self, msg_type: str, content: dict, timeout: float = 300) -> tuple[dict, list[dict]]:
        """Send a shell request; return its reply's content and the iopub messages it caused, once the kernel is idle."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "test", "version": "5.3",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell", "buffers": []}))
        reply, iopub, idle, deadline = None, [], False, time.time() + timeout
        while reply is None or not idle:
            if time.time() > deadline:
                raise TimeoutError(f"{msg_type}: no reply in {timeout} s; got {[m['msg_type'] for m in iopub]}")
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "shell":
                reply = msg["content"]
            elif msg["channel"] == "iopub":
                idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
                iopub.append(msg)
        return reply, iopub

    def execute(self, code: str) -> list[dict]:
        """Run code; its outputs as {msg_type, content}; fails with the traceback on an error."""
        reply, iopub = self.request("execute_request", {"code": code, "silent": False, "store_history": True,
                                                         "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        assert reply["status"] == "ok", "\n".join(reply.get("traceback", [])) or reply
        return [{"msg_type": m["msg_type"], "content": m["content"]} for m in iopub
                if m["msg_type"] in ("stream", "display_data", "execute_result", "error")]

    def close(self):
        self.ws.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m ainkit.reproduction.lab` (what `make lab` runs) on a free port with a token; shut down through its API."""
    if not lab.kernel_registered():
        pytest.skip(f"Jupyter kernel '{lab.KERNEL}' is not registered in this environment: run `make setup` "
                    "(python3 ainkit/ground/bootstrap.py), which registers it")
    tmp = tmp_path_factory.mktemp("lab")
    port, token = free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # as from a shell: the kernel picks its inline backend
    env.update(JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"))
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ainkit.reproduction.lab", "--port", str(port), "--token", token, "--no-browser"],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    http.headers["Authorization"] = f"token {token}"

    def tail() -> str:
        return (tmp / "server.log").read_text(errors="replace")[-3000:]

    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, f"JupyterLab exited with {proc.returncode}:\n{tail()}"
            try:
                if http.get(f"{base}/api/status", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, f"JupyterLab did not answer on port {port} in 180 s:\n{tail()}"
            time.sleep(0.5)
        yield base, token, http, tmp, tail
        assert http.post(f"{base}/api/shutdown", timeout=30).ok
        assert proc.wait(timeout=60) == 0, tail()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def test_rest_api_lists_the_notebooks_and_defaults_to_the_kit_kernel(server):
    base, token, http, _, _ = server
    listing = http.get(f"{base}/api/contents/", timeout=30).json()
    names = {c["name"] for c in listing["content"] if c["type"] == "notebook"}
    assert {p.name for p in discover(NOTEBOOKS)} <= names
    assert http.get(f"{base}/api/kernelspecs", timeout=30).json()["default"] == lab.KERNEL
    assert requests.get(f"{base}/api/contents/", timeout=30).status_code == 403, "the API must need the token"
    page = http.get(f"{base}/lab", timeout=60).text
    assert "@jupyter-widgets/jupyterlab-manager" in page, "ipywidgets' JupyterLab extension is missing: no progress bars"


def test_notebook_cell_runs_on_an_ainkit_kernel_and_shows_its_figure(server):
    base, token, http, tmp, tail = server
    nb = http.get(f"{base}/api/contents/{NOTEBOOK}.ipynb", params={"content": 1}, timeout=30).json()["content"]
    code = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    params = next(c["source"] for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    setup = code[code.index(params) + 1]
    figure = next(src for src in code if "plots.save(" in src)
    started = http.post(f"{base}/api/kernels", json={"name": lab.KERNEL}, timeout=120)
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    assert started.json()["name"] == lab.KERNEL
    kernel = Kernel(base, token, kernel_id)
    try:
        info, _ = kernel.request("kernel_info_request", {}, timeout=180)
        assert info["language_info"]["name"] == "python"
        kernel.execute(params + f"\nout_root = {str(tmp / 'out')!r}  # injected, as papermill does")
        kernel.execute(setup)
        outputs = kernel.execute(figure)
        images = [o for o in outputs if "image/png" in o["content"].get("data", {})]
        text = "".join(o["content"].get("text", "") for o in outputs if o["msg_type"] == "stream")
        assert len(images) == 1, f"expected the figure once, got {len(images)}: {outputs}\n{tail()}"
        written = tmp / "out" / "figures" / "fig07_survey_nationality.png"
        assert written.is_file() and str(written) in text
        bars = kernel.execute("from tqdm.auto import tqdm\nprint(sum(tqdm(range(3), desc='probe')))")
        stderr = "".join(o["content"].get("text", "") for o in bars if o["content"].get("name") == "stderr")
        assert "IProgress not found" not in stderr, "ipywidgets missing in the kernel: tqdm falls back to text"
        assert any(WIDGET in o["content"].get("data", {}) for o in bars), bars
    finally:
        kernel.close()
        http.delete(f"{base}/api/kernels/{kernel_id}", timeout=60)
