"""`ainkit reproduce`: notebooks 06 and 07 run by papermill into a temp dir, outputs checked; a broken
notebook fails loudly; parameters reach the executed notebook; no secret reaches any written file;
a second run reuses what is unchanged, --force and a missing output rerun."""
import json
import re
import secrets
import shutil
import subprocess
import sys
import time

import pytest

from ainkit.reproduction import parameters, reproduce, rerun
from ainkit.reproduction import progress as progress_mod
from ainkit.ground.paths import NOTEBOOKS, ROOT, Outputs
from helpers import cli
from shown import assert_every_figure_shown

FAKE_KEY = "sk-ainkit-test-" + secrets.token_hex(12)


def ainkit(*args, env=None, cwd=None):
    """The real command without MPLBACKEND (notebooks on the kernel's own backend, as in a real run)."""
    return cli(*args, env={**(env or {}), "MPLBACKEND": None}, cwd=cwd)


RUN06_07 = ["--only", "06,07", "-p", "figure1_models", "AIN-7B,GPT-4o", "-p", "donut", "false"]


@pytest.fixture(scope="module")
def run06_07(tmp_path_factory):
    """One real run of notebooks 06 and 07, with a parameter override and an API key in the environment."""
    root = tmp_path_factory.mktemp("reproduce")
    proc = ainkit("reproduce", *RUN06_07, "--out", str(root), env={"OPENAI_API_KEY": FAKE_KEY},
                  cwd=str(tmp_path_factory.mktemp("elsewhere")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


def test_outputs_written(run06_07):
    root, proc = run06_07
    figs = {p.name for p in (root / "figures").iterdir()}
    for stem in ("fig01_camel_bench_radar", "fig03_camel_bench_radar", "fig07_survey_nationality",
                 "fig08_model_preference", "fig09_dialect_preference", "tab01_camel_bench", "tab02_arabicmmlu",
                 "tab03_english_benchmarks"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figs, stem
    for table in ("table1_camel_bench", "table2_arabicmmlu_wins", "table3_gains", "claims_check"):
        assert (root / "reports" / "tables" / f"{table}.csv").is_file()
    assert "06_benchmark_results: ok" in proc.stdout and "07_human_feedback_survey: ok" in proc.stdout
    assert "1/2 06_benchmark_results: running (no earlier run in this output folder" in proc.stdout


@pytest.mark.parametrize("notebook", ["06_benchmark_results", "07_human_feedback_survey"])
def test_executed_notebook_shows_every_figure_it_writes(run06_07, notebook):
    assert_every_figure_shown(run06_07[0], notebook)


def test_reproduction_report(run06_07):
    md = (run06_07[0] / "reports" / "REPRODUCTION.md").read_text()
    assert md.splitlines()[4] == "## Scoreboard"
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Claims", "## Figure 7", "## Figure 8", "## Figure 9"):
        assert heading in md
    assert "| Gemini-1.5-Pro: Total (mean of 8 domains) | 52.38 | 43.08 | -9.30 | differ |" in md
    assert "ain_vs_gpt4o_camel_total_gain [not supported] | 3.40 | 3.64 | +0.24 | differ |" in md
    assert "arabicmmlu_categories_won [supported] | 14 | 14 | 0 | match |" in md
    assert "| POPE: gain AIN-7B - Qwen2-VL-7B | – | 1.46 | – | kit only |" in md
    assert "- **Table 1** · Gemini-1.5-Pro: Total (mean of 8 domains): report 52.38, kit 43.08 (-9.30)" in md
    assert "`06_benchmark_results`: run now (" in md
    html = (run06_07[0] / "reports" / "REPRODUCTION.html").read_text()
    assert html.count('<img alt="') == len(list((run06_07[0] / "figures").glob("*.png")))


def test_parameters_in_executed_notebook_and_manifest(run06_07):
    root, _ = run06_07
    nb = json.loads((root / "reports" / "notebooks" / "06_benchmark_results.ipynb").read_text())
    params = nb["metadata"]["papermill"]["parameters"]
    assert params["figure1_models"] == ["AIN-7B", "GPT-4o"] and "profile" not in params  # 06 does not read it
    nb07 = json.loads((root / "reports" / "notebooks" / "07_human_feedback_survey.ipynb").read_text())
    assert nb07["metadata"]["papermill"]["parameters"]["donut"] is False  # cast to the declared bool
    manifest = json.loads((root / "reports" / "manifest.json").read_text())
    assert manifest["command_line_parameters"] == {"figure1_models": "AIN-7B,GPT-4o", "donut": "false"}
    assert [n["name"] for n in manifest["notebooks"]] == ["06_benchmark_results", "07_human_feedback_survey"]
    assert all(n["status"] == "ok" and n["seconds"] > 0 for n in manifest["notebooks"])
    for n in manifest["notebooks"]:  # what a later run needs to decide on reuse
        assert n["fingerprint"] == rerun.fingerprint(n["inputs"]) and n["made_by"]["started"] == manifest["started"]
        assert set(n["inputs"]) >= {"notebook", "parameters", "ainkit", "configs", "packages", "profile"}
        assert f"reports/notebooks/{n['name']}.ipynb" in n["outputs"] and f"reports/results/{n['name']}.json" in n["outputs"]
    assert "figures/fig07_survey_nationality.png" in manifest["notebooks"][1]["outputs"]
    assert manifest["packages"]["papermill"] and manifest["packages"]["matplotlib"].startswith("3.1")
    assert "commit" in manifest["git"]


def test_no_secret_in_any_written_file(run06_07):
    root, proc = run06_07
    assert FAKE_KEY not in proc.stdout + proc.stderr
    written = [p for p in root.rglob("*") if p.is_file()]
    assert len(written) > 20
    for path in written:
        assert FAKE_KEY.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_broken_notebook_fails_loudly(tmp_path, data_dir):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    shutil.copy(data_dir / "99_broken.ipynb", nbdir)
    shutil.copy(NOTEBOOKS / "07_human_feedback_survey.ipynb", nbdir / "98_survey.ipynb")
    proc = ainkit("reproduce", "--notebooks", str(nbdir), "--out", str(tmp_path / "out"))
    assert proc.returncode == 5  # a notebook failed (ainkit.ground.errors.EXIT_NOTEBOOK), not 1 (a bug)
    assert "notebook 99_broken failed in cell 3 of the executed copy" in proc.stderr
    assert 'raise RuntimeError("this notebook is broken on purpose")' in proc.stderr
    assert "RuntimeError: this notebook is broken on purpose" in proc.stderr
    assert "98_survey: ok" in proc.stdout  # the notebook before it ran and its outputs stay
    manifest = json.loads((tmp_path / "out" / "reports" / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed"]
    assert (tmp_path / "out" / "reports" / "notebooks" / "99_broken.ipynb").is_file()


@pytest.mark.parametrize("args, message", [
    (["--only", "42"], "--only 42: no such notebook"),
    (["--only", "06", "-p", "no_such_param", "1"], "no selected notebook declares"),
    (["--only", "06", "-p", "openai_api_key", "x"], "secrets are never passed"),
    (["--only", "07", "-p", "donut", "maybe"], "not a valid bool"),
    (["--only", "07", "--force", "06"], "--force 06: 06_benchmark_results not selected by --only 07"),
])
def test_bad_invocations_are_explained(tmp_path, args, message):
    proc = ainkit("reproduce", *args, "--out", str(tmp_path))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_secret_value_refused_as_parameter(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with pytest.raises(reproduce.ReproduceError, match="environment variables"):
        reproduce.parse_overrides([["label", f"x{FAKE_KEY}"]])


def test_scrub_removes_keys_and_values(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-123456789")
    cleaned = reproduce.scrub({"api_key": "abc", "nested": ["see tok-123456789"], "n": 3})
    assert cleaned == {"api_key": "<redacted>", "nested": ["see <redacted>"], "n": 3}
    files = {"outputs": {"reports/train_tiny/tokenizer.json": "ab12"}, "inputs": {"environment": "cd34"}}
    assert reproduce.scrub({"notebooks": [files]}) == {"notebooks": [files]}  # file names are not settings


def test_cast_and_select():
    assert parameters.cast("3", "int", "w") == 3 and parameters.cast("0.5", "float", "w") == 0.5
    assert parameters.cast("[1, 2]", "list", "w") == [1, 2] and parameters.cast("x", "str", "w") == "x"
    nbs = reproduce.discover()
    assert [p.stem for p in reproduce.select(nbs, "7,06_benchmark_results")] == ["06_benchmark_results", "07_human_feedback_survey"]


def test_lab_scores_reach_tables_and_radar(tmp_path):
    """Notebook 06 executed directly by papermill with a lab's scores file."""
    import papermill

    scores = tmp_path / "mine.json"
    scores.write_text(json.dumps({"model": "Mine-2B", "camel_bench": {"VQA": 40, "OCR": 41, "Video": 42, "RS": 43, "CDT": 44,
                                                                      "Agro.": 45, "Cult.": 46, "Med.": 47}}))
    out = tmp_path / "out"
    papermill.execute_notebook(str(NOTEBOOKS / "06_benchmark_results.ipynb"), str(tmp_path / "06.ipynb"),
                               parameters={"out_root": str(out), "extra_scores": [str(scores)]},
                               kernel_name=reproduce.kernel_name(), progress_bar=False, cwd=str(tmp_path))
    rows = json.loads((out / "reports" / "results" / "06_benchmark_results.json").read_text())["rows"]
    assert any(r["quantity"] == "Mine-2B (lab scores): Total" and r["kit"] == pytest.approx(43.5) for r in rows)
    table = (out / "reports" / "tables" / "table1_camel_bench.csv").read_text()
    assert "Mine-2B" in table
    assert (out / "figures" / "fig03_camel_bench_radar.png").is_file()


def test_set_up_is_idempotent():
    proc = subprocess.run(["python3", str(ROOT / "ainkit" / "ground" / "bootstrap.py")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "requirements unchanged since the last set-up; skipped" in proc.stdout
    assert "already installed" in proc.stdout or "not root" in proc.stdout


def test_notebook_02_offline_marks_published_cells(tmp_path):
    proc = ainkit("reproduce", "--only", "02", "-p", "n_good", "30", "-p", "extra_encoders", "use-multilingual",
                  "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("fig14a_similarity_heatmap", "fig14b_similarity_heatmap", "fig15a_good_translations",
                 "fig15b_poor_translations", "fig15c_encoder_separation"):
        assert (tmp_path / "figures" / f"{name}.png").is_file(), name
    md = (tmp_path / "reports" / "REPRODUCTION.md").read_text()
    assert "## Figure 14a" in md and "## Figure 15" in md
    assert re.search(r"^\| all-mpnet-base-v2 \(\d+\): 1\.1, .* \| match ×\d+ \| matches to 4 decimals", md, re.MULTILINE)
    assert re.search(r"^\| LaBSE: \d+ cells \| [0-9.]+ to [0-9.]+ \| – \| – \| unavailable \| cause \[U\d\] \|", md, re.MULTILINE)
    assert md.count("not shipped on PyPI") == 1  # LaBSE, M-BERT, ...: one cause, stated once
    assert re.search(r"cells matching to 4 decimals, identified text \| 14 \| 1\d \|", md)
    assert_every_figure_shown(tmp_path, "02_embedding_similarity")
    html = (tmp_path / "reports" / "REPRODUCTION.html").read_text()
    assert '<td dir="auto">1.1 · all-mpnet-base-v2</td><td dir="auto" class=n>0.1530</td><td dir="auto" class=n>0.1530</td>' in html


def test_notebook_03_offline(tmp_path):
    proc = ainkit("reproduce", "--only", "03", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "figures" / "fig13_verification_funnel.png").is_file()
    assert_every_figure_shown(tmp_path, "03_translation_quality_metrics")
    md = (tmp_path / "reports" / "REPRODUCTION.md").read_text()
    assert "## Table 9" in md and "| BLEU-2 score (corpus) | 71.11 |" in md and "## Figure 13" in md


def test_notebook_01_offline_on_the_embedded_server(tmp_path):
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    proc = ainkit("reproduce", "--only", "01", "-p", "n_samples", "2", "-p", "models", "smollm2-135m",
                  "-p", "prompt_langs", "ar", "--out", str(tmp_path), env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (tmp_path / "reports" / "REPRODUCTION.md").read_text()
    assert "## Table 4" in md and "GPT-4o-mini 3.52" in md  # the published rows, folded into one line
    assert "| kit smollm2-135m: avg s/sample | – |" in md and "mean over the 2 requests that succeeded" in md
    assert "PROXY" in md and "held-out smollm2-135m" in md and "in Arabic (%)" in md and "STAND-IN" in md
    assert (tmp_path / "figures" / "tab04_05_time_per_sample.png").is_file()
    assert (tmp_path / "reports" / "tables" / "rating_sheet_01.csv").is_file()
    assert_every_figure_shown(tmp_path, "01_translation_model_comparison")


def _kit_rows(tmp_path):
    rows = json.loads((tmp_path / "reports" / "results" / "01_translation_model_comparison.json").read_text())["rows"]
    return [r for r in rows if r["quantity"].startswith("kit ")]


def test_notebook_01_fails_when_the_endpoint_is_down(tmp_path):
    """Issue 19: `-p backend vllm-local` with nothing listening: non-zero, the cause named, no time per sample."""
    from ainkit.services.llm import load_config

    url = load_config()["backends"]["vllm-local"]["base_url"]
    port = int(url.split(":")[2].split("/")[0])
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            pytest.skip(f"something listens on {port}")
    proc = ainkit("reproduce", "--only", "01", "--force", "-p", "backend", "vllm-local", "-p", "n_samples", "3",
                  "--out", str(tmp_path))
    assert proc.returncode != 0
    assert "no request succeeded" in proc.stderr and "connection error" in proc.stderr, proc.stderr[-2000:]
    kit = _kit_rows(tmp_path)
    assert kit and all(r["source"] == "failed" for r in kit)
    assert not any("s/sample" in r["quantity"] or "samples/s" in r["quantity"] for r in kit)
    table = (tmp_path / "reports" / "tables" / "table4_5_translation_comparison.csv").read_text()
    kit_line = next(l for l in table.splitlines() if "(kit)" in l)
    assert "3 of 3 failed" in kit_line


def test_notebook_01_fails_when_the_embedded_server_is_killed(tmp_path):
    """Issue 19: the embedded server killed while the notebook runs: non-zero, the signal named, no number from it."""
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    run = cli("reproduce", "--only", "01", "-p", "n_samples", "8", "-p", "prompt_langs", "ar", "-p", "heldout", "false",
              "--out", tmp_path, env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": "", "MPLBACKEND": None}, wait=False)
    killed, deadline = None, time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        found = subprocess.run(["pgrep", "-f", "llama_cpp.server"], capture_output=True, text=True).stdout.split()
        mine = [int(p) for p in found if str(tmp_path) not in p]
        for pid in mine:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    started = float(fh.read().split(")")[1].split()[19])
            except OSError:
                continue
            uptime = float(open("/proc/uptime").read().split()[0])
            if uptime - started / 100 > 4:  # up for a few seconds: ready and answering
                subprocess.run(["kill", "-9", str(pid)])
                killed = pid
                break
        time.sleep(0.2)
    out, err = run.communicate(timeout=300)
    assert killed, "the embedded server was never seen"
    assert run.returncode != 0, out + err
    assert "SIGKILL" in err and "notebook 01" in err, err[-2000:]
    assert not any("s/sample" in r["quantity"] for r in _kit_rows(tmp_path) if r["source"] != "failed")


def test_notebook_05_tiny_training_and_plan(tmp_path):
    proc = ainkit("reproduce", "--only", "05", "-p", "max_steps", "8", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "figures" / "fig05_loss_curve.png").is_file()
    md = (tmp_path / "reports" / "REPRODUCTION.md").read_text()
    assert "## Section 3 (plan)" in md and "memory per GPU (" in md and "total (GB) " in md
    assert "| nodes x GPUs | 8 x 8 | 8 x 8 |" in md
    assert_every_figure_shown(tmp_path, "05_multinode_training")


SAME_ENV = {"OPENAI_API_KEY": FAKE_KEY}  # as run06_07 had it: whether a key is set is an input (ainkit.reproduction.rerun.environment)


def test_second_run_reuses_force_and_missing_outputs_rerun(run06_07, tmp_path):
    """A copy of the 06+07 run: the same command reuses both (and says from which run); --force 06
    reruns 06 alone; a deleted figure reruns the notebook that made it; --only 07 keeps 06's results."""
    first = tmp_path / "copy"
    shutil.copytree(run06_07[0], first)
    started = json.loads((first / "reports" / "manifest.json").read_text())["started"]
    proc = ainkit("reproduce", *RUN06_07, "--out", str(first), env=SAME_ENV)  # its time: bench/reproduce_overhead.py
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 run, 2 reused" in proc.stdout and f"06_benchmark_results: reused from the run of {started}" in proc.stdout
    md = (first / "reports" / "REPRODUCTION.md").read_text()
    assert f"`07_human_feedback_survey`: reused from the run of {started}" in md
    manifest = json.loads((first / "reports" / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["reused", "reused"]
    assert all(n["made_by"]["started"] == started for n in manifest["notebooks"])

    proc = ainkit("reproduce", *RUN06_07, "--force", "06", "--out", str(first), env=SAME_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "06_benchmark_results: running (--force" in proc.stdout and "07_human_feedback_survey: reused" in proc.stdout
    assert re.search(r"06_benchmark_results: running .*; about \d+:\d\d left", proc.stdout)  # ETA from the last manifest
    assert "1 run, 1 reused" in proc.stdout

    (first / "figures" / "fig07_survey_nationality.png").unlink()
    proc = ainkit("reproduce", *RUN06_07, "--out", str(first), env=SAME_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "07_human_feedback_survey: running (output missing: figures/fig07_survey_nationality.png" in proc.stdout
    assert "06_benchmark_results: reused" in proc.stdout and (first / "figures" / "fig07_survey_nationality.png").is_file()

    proc = ainkit("reproduce", "--only", "07", "-p", "donut", "false", "--out", str(first), env=SAME_ENV)
    assert proc.returncode == 0 and "0 run, 1 reused" in proc.stdout, proc.stdout + proc.stderr
    md = (first / "reports" / "REPRODUCTION.md").read_text()
    assert "`06_benchmark_results`: not selected in this run; results kept from the run of" in md
    assert [n["status"] for n in json.loads((first / "reports" / "manifest.json").read_text())["notebooks"]] == ["kept", "reused"]


def test_reuse_needs_the_same_inputs(tmp_path, monkeypatch):
    """Each input part that changes is named; out_root is not an input; a named file's content is."""
    nb = NOTEBOOKS / "07_human_feedback_survey.ipynb"
    inputs = rerun.Inputs("local")
    scores = tmp_path / "scores.json"
    scores.write_text("{}")
    parts = inputs.of(nb, {"donut": True, "out_root": "/a", "extra_scores": [str(scores)]})
    assert parts == inputs.of(nb, {"donut": True, "out_root": "/b", "extra_scores": [str(scores)]})
    out = Outputs.resolve(tmp_path / "out").ensure()
    (out.executed / "07.ipynb").write_text("{}")
    entry = {"status": "ok", "fingerprint": rerun.fingerprint(parts), "inputs": parts,
             "outputs": {"reports/notebooks/07.ipynb": rerun.file_digest(out.executed / "07.ipynb")}}
    assert rerun.reusable(entry, parts, out) == (True, "inputs unchanged")
    changed = inputs.of(nb, {"donut": False, "out_root": "/a", "extra_scores": [str(scores)]})
    assert rerun.reusable(entry, changed, out) == (False, "changed since the earlier run: parameters")
    scores.write_text('{"model": "x"}')
    assert rerun.reusable(entry, inputs.of(nb, {"donut": True, "extra_scores": [str(scores)]}), out) == \
        (False, "changed since the earlier run: parameter files")
    assert rerun.Inputs("paper").of(nb, {"donut": True})["profile"] != parts["profile"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AINKIT_OUTPUT_ROOT", str(tmp_path))  # where outputs go is not an input
    env = rerun.environment()
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1" and env["OPENAI_API_KEY"] == "set"
    assert "AINKIT_OUTPUT_ROOT" not in env and FAKE_KEY not in json.dumps(rerun.Inputs("local").of(nb, {}))
    assert rerun.Inputs("local").of(nb, {"donut": True})["environment"] != parts["environment"]
    (out.executed / "07.ipynb").write_text('{"edited": 1}')
    assert rerun.reusable(entry, parts, out) == (False, "output changed since it was written: reports/notebooks/07.ipynb")
    assert rerun.reusable(None, parts, out)[0] is False
    assert rerun.reusable({**entry, "status": "failed"}, parts, out)[0] is False


def test_progress_eta_from_the_last_manifest(capsys):
    p = progress_mod.Progress({"01_a": 70.0, "02_b": 20.0, "03_c": None}, live=False)
    p.start("01_a", "running")
    p.start("02_b", "running")
    p.start("03_c", "running")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[reproduce] 1/3 01_a: running; about 1:30 left + 1 notebook(s) never timed"
    assert out[1] == "[reproduce] 2/3 02_b: running; about 0:20 left + 1 notebook(s) never timed"
    assert out[2] == "[reproduce] 3/3 03_c: running; no estimate (not in the last manifest)"


def _tiny_notebook(path, code):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('out_root: str = ""  # unused', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


HOLD_LOCK = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[1] + ".held", "w").close()
while not os.path.exists(sys.argv[1] + ".release"):  # the "build" lasts until the test ends it
    time.sleep(0.05)
open(sys.argv[2], "w").write(json.dumps({"status": sys.argv[4], "exit": 0 if sys.argv[4] == "ok" else 1, "seconds": 3.0}))
"""


@pytest.mark.parametrize("outcome", ["ok", "failed"])
def test_background_llama_build_runs_server_notebooks_last(tmp_path, monkeypatch, capsys, outcome):
    """While the set-up compiles llama-cpp-python, notebooks importing ainkit.services.serve run after the others and wait for
    the build; a failed build fails the first of them naming the log; the manifest stays in number order."""
    from ainkit.ground import setup_llama

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _tiny_notebook(nbdir / "01_server.ipynb", "from ainkit.services import llm, serve\nx = 1")
    _tiny_notebook(nbdir / "02_plain.ipynb", "x = 2")
    assert [reproduce.uses_embedded_server(p) for p in reproduce.discover(nbdir)] == [True, False]
    assert [reproduce.uses_embedded_server(NOTEBOOKS / n) for n in ("01_translation_model_comparison.ipynb",
            "03_translation_quality_metrics.ipynb", "02_embedding_similarity.ipynb")] == [True, True, False]
    lock, state, log = tmp_path / "build.lock", tmp_path / "build.json", tmp_path / "build.log"
    for name, path in (("LLAMA_LOCK", lock), ("LLAMA_STATE", state), ("LLAMA_LOG", log)):
        monkeypatch.setattr(setup_llama, name, path)
    assert setup_llama.llama_build()["running"] is False
    release = tmp_path / "build.lock.release"
    wait = setup_llama.wait_llama_build

    def end_the_build_then_wait():  # the build ends once reproduce waits for it, however long 02_plain took
        release.touch()
        return wait()

    monkeypatch.setattr(setup_llama, "wait_llama_build", end_the_build_then_wait)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock), str(state), "3", outcome])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "build.lock.held").exists():
            time.sleep(0.05)
        assert setup_llama.llama_build()["running"] is True
        out = tmp_path / "out"
        if outcome == "ok":
            reproduce.run(notebooks_dir=str(nbdir), out_root=str(out), progress=False)
        else:
            with pytest.raises(reproduce.NotebookFailed, match=re.escape(str(log))):
                reproduce.run(notebooks_dir=str(nbdir), out_root=str(out), progress=False)
    finally:
        release.touch()
        holder.wait(timeout=60)
    printed = capsys.readouterr().out
    assert "01_server (the embedded server) run last" in printed
    assert printed.index("02_plain: running") < printed.index("waiting for the set-up's background build") \
        < printed.index("waited ")
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    assert [n["name"] for n in manifest["notebooks"]] == ["01_server", "02_plain"]
    plain = manifest["notebooks"][1]
    if outcome == "ok":
        assert "01_server: running" in printed and [n["status"] for n in manifest["notebooks"]] == ["ok", "ok"]
        assert "ran while the set-up compiled llama-cpp-python" in plain["reason"]
        # recorded with the packages installed after the build: what a rerun compares against
        assert plain["inputs"]["packages"] == rerun.Inputs("local", reproduce.REPORTED_PACKAGES).shared["packages"]
    else:
        assert "01_server: running" not in printed
        assert [n["status"] for n in manifest["notebooks"]] == ["failed", "ok"]
        assert "background build failed (exit 1)" in manifest["notebooks"][0]["error"]
