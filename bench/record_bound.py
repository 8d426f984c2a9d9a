"""What one 1 MB record costs each stage: wall time and peak memory beyond the same run without it.

    .venv/bin/python bench/record_bound.py [--mb 1] [--stages translate,similarity,...]

For every stage the same small input (20 ordinary records) is run twice, each time in a fresh
process: once as it is (the baseline), once with one record of --mb megabytes added (a 1 MB
text field; for toxicity a 1 MB image path; for evaluate a 1 MB prediction; for train a 1 MB
chat turn). Extra cost = with - baseline, for the stage call's wall time and the process's peak
RSS (children included). The budget is the issue's: < 5 s and < 500 MB per stage. translate and
toxicity talk to the kit's fault-injecting test server on 127.0.0.1 (a real HTTP server).
The last line is the ratio of the worst stage to the budget (<= 1.00 means every stage fits).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUDGET_S, BUDGET_MB = 5.0, 500.0
STAGES = ["translate", "similarity", "metrics", "verify", "toxicity", "evaluate", "train-data"]


def _records(kind: str, big: str | None) -> list[dict]:
    """20 ordinary records of the stage's shape, plus the big one when `big` is given."""
    base = {
        "translate": lambda i: {"id": f"r{i}", "text": f"The cat number {i} sleeps on the mat."},
        "similarity": lambda i: {"id": f"r{i}", "en": f"The cat number {i} sleeps.", "ar": f"القطة رقم {i} تنام."},
        "metrics": lambda i: {"id": f"r{i}", "reference": f"the cat {i} sat on the mat", "hypothesis": f"a cat {i} sat on a mat"},
        "verify": lambda i: {"id": f"r{i}", "reference": f"the cat {i} sat on the mat", "hypothesis": f"the cat {i} sat on a mat"},
        "toxicity": lambda i: {"id": f"r{i}", "image": "green.png"},
        "evaluate": lambda i: {"dataset": "mmbench", "id": f"r{i}", "prediction": "أ", "answer": "أ"},
        "train-data": lambda i: {"id": f"r{i}", "messages": [{"role": "user", "content": f"Question {i}?"},
                                                             {"role": "assistant", "content": f"Answer {i}."}]},
    }[kind]
    recs = [base(i) for i in range(20)]
    if big is not None:
        rec = base(99)
        rec["id"] = "big"
        field = {"translate": "text", "similarity": "en", "metrics": "hypothesis", "verify": "hypothesis",
                 "toxicity": "image", "evaluate": "prediction"}.get(kind)
        if field:
            rec[field] = big
        else:
            rec["messages"][1]["content"] = big
        recs.insert(10, rec)
    return recs


def _fault_server() -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fault_server import spawn

    proc, port = spawn(0.0, lifetime=300)
    return proc, f"http://127.0.0.1:{port}/v1"


def run_one(kind: str, mb: float, big: bool, work: Path, url: str) -> dict:
    """Run one stage in this process; returns seconds of the stage call and peak RSS (MB, children included)."""
    from ainkit.services import records

    text = ("word " * int(mb * 1024 * 1024 / 5)) if big else None
    src = records.write_records(work / "in.jsonl", _records(kind, text))
    out = work / "out.jsonl"
    t0 = time.perf_counter()
    if kind == "translate":
        from ainkit.services import llm
        from ainkit.stages import translate

        client = llm.Client(llm.Backend("bench", url, "fault-model"), cache=False)
        s = translate.run(str(src), str(out), client, translate.Settings(), progress=False)
    elif kind == "similarity":
        from ainkit.stages import similarity

        similarity.load("use-multilingual")  # loading the model is not the record's cost
        t0 = time.perf_counter()
        s = similarity.score_records(str(src), str(out), "use-multilingual", progress=False)
    elif kind == "metrics":
        from ainkit.stages import metrics

        metrics._wordnet()
        t0 = time.perf_counter()
        s, _ = metrics.score_records(str(src), str(out), workers=1, progress=False)
    elif kind == "verify":
        from ainkit.stages import metrics, verify

        metrics._wordnet()
        t0 = time.perf_counter()
        verify.run(str(src), str(out), rules={"bleu4": 0.5, "meteor": 0.5}, compute=True)
    elif kind == "toxicity":
        from PIL import Image

        from ainkit.services import llm
        from ainkit.stages import toxicity

        Image.new("RGB", (64, 64), (0, 200, 0)).save(work / "green.png")
        client = llm.Client(llm.Backend("bench", url, "fault-model", vision=True), cache=False)
        toxicity.run(str(src), str(out), client, progress=False)
    elif kind == "evaluate":
        from ainkit.stages.evaluate import runner

        runner.run_camel_bench(str(src), str(work / "eval"))
    elif kind == "train-data":
        from ainkit.services.records import load_samples
        from ainkit.services import qwen2vl
        from ainkit.services import tiny

        samples = load_samples()
        enc = qwen2vl.Encoder(tiny.build_tokenizer([x["en"] for x in samples] + [x["ar"] for x in samples]), cutoff_len=2048)
        t0 = time.perf_counter()
        for rec in records.read_records(src):
            try:
                enc.encode(rec)
            except qwen2vl.RecordProblem:
                pass
    seconds = time.perf_counter() - t0
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return {"seconds": seconds, "rss_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=1.0, help="size of the big record in MB (default 1)")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages (default: all)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--big", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_one(args.one, args.mb, args.big, Path(tmp), args.url)))
        return
    server, url = _fault_server()
    worst_t = worst_m = 0.0
    try:
        print(f"{'stage':<12} {'baseline s':>10} {'with 1 big s':>12} {'extra s':>8} {'baseline MB':>11} {'with MB':>8} {'extra MB':>9}")
        for kind in args.stages.split(","):
            res = []
            for big in (False, True):
                env = {**os.environ, "AINKIT_CACHE_DIR": tempfile.mkdtemp(prefix="ainkit-bench-cache-")}
                p = subprocess.run([sys.executable, __file__, "--one", kind, "--mb", str(args.mb), "--url", url,
                                    *(["--big"] if big else [])], capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    raise SystemExit(f"{kind} ({'big' if big else 'baseline'}) failed:\n{p.stderr[-3000:]}")
                res.append(json.loads(p.stdout.strip().splitlines()[-1]))
            dt, dm = res[1]["seconds"] - res[0]["seconds"], res[1]["rss_mb"] - res[0]["rss_mb"]
            worst_t, worst_m = max(worst_t, dt), max(worst_m, dm)
            print(f"{kind:<12} {res[0]['seconds']:10.2f} {res[1]['seconds']:12.2f} {dt:8.2f} {res[0]['rss_mb']:11.0f} "
                  f"{res[1]['rss_mb']:8.0f} {dm:9.0f}", flush=True)
    finally:
        server.terminate()
    print(f"ratio worst extra time / {BUDGET_S:g} s budget: {worst_t / BUDGET_S:.2f}; "
          f"worst extra memory / {BUDGET_MB:g} MB budget: {worst_m / BUDGET_MB:.2f}")


if __name__ == "__main__":
    main()
