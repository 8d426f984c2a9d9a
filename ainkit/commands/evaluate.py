"""`ainkit evaluate`: ArabicMMLU and CAMEL-Bench (ainkit.stages.evaluate).

    ainkit evaluate --benchmark arabic-mmlu --model local:smollm2-135m --output runs/smol
    ainkit evaluate --benchmark kitab-bench --model openai:NAME --base-url http://127.0.0.1:8000/v1 --output runs/kitab
    ainkit evaluate --list
    ainkit evaluate --benchmark jeem --model openai:NAME --base-url http://127.0.0.1:8000/v1 --output runs/jeem
    ainkit evaluate compare runs/a/predictions.jsonl runs/b/predictions.jsonl --output runs/a-vs-b
"""
from __future__ import annotations

import argparse

from ainkit.ground.errors import epilog

PARSER = dict(help="score a model on ArabicMMLU or KITAB-Bench, score CAMEL-Bench answers in both modes, compare two runs",
              description="""ArabicMMLU: ask the model every item once (answers kept in the shared cache, so a re-run
                          asks nothing), score per category and in total. CAMEL-Bench: score a predictions file
                          ({dataset, id, prediction, answer} per line) with the benchmark's original scorers and the
                          kit's corrected ones, side by side, aggregated to the 8 domains. Writes
                          OUTPUT/predictions.jsonl and OUTPUT/results.json (accuracies 0-1), which notebook 06
                          overlays on the radar and tables. KITAB-Bench: its text-recognition sets with the authors'
                          prompt and CER / WER / CHrF. ARB: final-answer accuracy by the authors' LLM judge
                          request (--judge). JEEM: captions and answers in four dialects, CIDEr / BLEU-4 / ROUGE-L with
                          95 % intervals over images. --list: every benchmark known, with size, keys, licence,
                          gating and the metrics implemented. compare A B (or --compare A B): two predictions files on the same items,
                          accuracies with bootstrap intervals, the paired difference and McNemar's exact p-value.""",
              epilog=epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from ainkit.commands.options import positive
    from ainkit.stages.evaluate.registry import BENCHMARKS

    p.add_argument("--benchmark", choices=[n for n, b in BENCHMARKS.items() if b.runnable],
                   help="required unless --list or --compare")
    p.add_argument("words", nargs="*", metavar="compare A B", help="compare two predictions files (the same as --compare A B)")
    p.add_argument("--list", action="store_true", help="list the benchmarks: size, keys, licence, gating, metrics; then exit")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two predictions files of `ainkit evaluate` on "
                   "the same items (writes OUTPUT/compare.json when --output is given)")
    p.add_argument("--compare-field", default="", help="--compare: the true/false field to read (default: 'correct', "
                   "else CAMEL-Bench's 'correct_corrected')")
    p.add_argument("--resamples", type=positive, default=2000, help="--compare: bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (compare, JEEM)")
    from ainkit.services.endpoint import add_endpoint_options

    add_endpoint_options(p, "openai:NAME (OPENAI_BASE_URL/KEY), local:smollm2-135m (embedded), hf:PATH (a "
                         "local causal LM by its logits, or a Qwen2-VL-family checkpoint (`ainkit train`'s, "
                         "MBZUAI/AIN, a Qwen2.5-VL): logits for ArabicMMLU, generation with the images for the "
                         "vision benchmarks)", model_default="", named=False)
    p.add_argument("--data", default="fixture", help="ArabicMMLU: a CSV in the published schema; CAMEL-Bench, KITAB-Bench: "
                   "item records (JSON Lines); 'fixture' (the kit's, default); 'hub' (the real sets, with --allow-download)")
    p.add_argument("--datasets", default="", help="CAMEL-Bench / KITAB-Bench sets to fetch with --data hub, comma-separated "
                   "(default: all 44 / all 13)")
    p.add_argument("--allow-download", action="store_true", help="allow --data hub to download from the Hugging Face hub")
    p.add_argument("--predictions", help="CAMEL-Bench answers to score: JSON Lines {dataset, id, prediction, answer}, or the "
                   "benchmark's own results/ folder of <model>_<dataset>.json files")
    p.add_argument("--output", help="output folder (required with --benchmark)")
    p.add_argument("--mmlu-prompt", choices=["authors", "authors-script", "kit", "lighteval"], default="authors",
                   help="ArabicMMLU formulation: the authors' prompt as lm-evaluation-harness's arabicmmlu asks it "
                   "(default), as the authors' own script scores it, the kit's earlier English prompt, or lighteval's "
                   "Arabic one (ainkit.stages.evaluate.arabic_mmlu)")
    p.add_argument("--limit", type=positive, help="first N items only")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--judge", help="CAMEL-Bench open-ended sets (vqav2, mathvista, geochat, mtvqa) and ARB's final answers "
                   "(required there): an LLM judge, openai:NAME (both benchmarks used gpt-4o) or local:NAME; without one "
                   "(or when none of its replies is 0 or 1) CAMEL-Bench's open-ended sets are not scored "
                   "(results.json: not_scored)")
    p.add_argument("--weighting", choices=["subdomain-mean", "question"], default="subdomain-mean",
                   help="CAMEL-Bench: a domain is the plain mean of its sub-domains (default) or question-weighted")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.services import endpoint
    from ainkit.stages.evaluate import hub, runner

    if args.list:
        from ainkit.stages.evaluate import registry

        print(registry.render())
        return 0
    if args.words:
        if args.words[0] != "compare" or len(args.words) != 3 or args.compare:
            raise ValueError(f"unexpected {' '.join(args.words)!r}: the only word `ainkit evaluate` takes is "
                             "`compare A B` (two predictions files)")
        args.compare = args.words[1:]
    if args.compare:
        return _compare(args)
    if not args.benchmark or not args.output:
        raise ValueError("--benchmark and --output are required (or --list, or --compare A B)")
    if args.benchmark == "kitab-bench":
        return _kitab(args)
    if args.benchmark == "arb":
        return _arb(args)
    if args.benchmark == "jeem":
        return _jeem(args)
    if args.benchmark == "arabic-mmlu":
        if not args.model:
            raise ValueError("--model is required for arabic-mmlu")
        data = hub.arabic_mmlu_data(args.data, args.output, args.allow_download)
        r = runner.run_arabic_mmlu(args.model, data, args.output, args.limit, args.concurrency, args.base_url,
                                   args.mmlu_prompt)
        acc = r["total"]["accuracy"]
        print(f"[evaluate] arabic-mmlu {args.model}: {r['items']} items, {r['asked_now']} asked now, {r['from_cache']} "
              f"from cache, {r['unanswered']} without a usable answer; accuracy {acc:.4f}; {args.output}/results.json")
    else:
        predictions = args.predictions
        if not predictions:
            kind = endpoint.parse_endpoint(args.model, args.base_url).kind if args.model else None
            if kind is None or args.data == "fixture" and kind not in ("openai", "hf"):
                raise ValueError("camel-bench needs --predictions FILE|DIR, or --model openai:NAME (with --data items.jsonl) "
                                 "or hf:PATH (a Qwen2-VL-family checkpoint)")
            data = hub.camel_bench_data(args.data, args.output, args.datasets, args.allow_download, args.limit)
            predictions = str(runner.ask_camel_bench(args.model, data, args.output, args.limit, args.concurrency,
                                                     base_url=args.base_url))
        r = runner.run_camel_bench(predictions, args.output, args.model, args.judge, weighting=args.weighting)
        if r["withheld_answers"]:
            print(f"[evaluate] camel-bench: {r['withheld_answers']} item(s) have no answer key (the hub copy withholds "
                  f"them; the benchmark's authors score submissions): not scored; predictions written for submission in "
                  f"the benchmark's results format to {r['submission']}/")
        if r["datasets"]:
            print(f"[evaluate] camel-bench: {sum(d['n'] for d in r['datasets'].values())} answers in {len(r['datasets'])} "
                  f"data sets; total corrected {r['corrected']['total']:.4f}, original {r['original']['total']:.4f}; "
                  f"{len(r['differences'])} data sets differ between modes; "
                  f"{sum(d.get('prediction_errors', 0) for d in r['datasets'].values())} unusable predictions (counted wrong)")
        elif not r["not_scored"]:
            print("[evaluate] camel-bench: no item with an answer key: nothing scored (scores need the authors' keys)")
        for ds, why in r["not_scored"].items():
            print(f"[evaluate] camel-bench: {ds} not scored: {why}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ainkit.ground import atomic
    from ainkit.stages.evaluate import compare

    r = compare.compare(*args.compare, field=args.compare_field, resamples=args.resamples, seed=args.seed)
    print(compare.render(r))
    if args.output:
        atomic.write_json(f"{args.output}/compare.json", r)
    return 0


def _kitab(args: argparse.Namespace) -> int:
    from ainkit.stages.evaluate import kitab

    if not args.model:
        raise ValueError("--model is required for kitab-bench (a vision model: openai:NAME or hf:PATH)")
    data = kitab.data_file(args.data, args.output, args.datasets, args.allow_download, args.limit)
    r = kitab.run(args.model, data, args.output, args.limit, args.concurrency, args.base_url)
    m = r["mean"]
    print(f"[evaluate] kitab-bench {args.model}: {r['items']} items in {len(r['datasets'])} sets, {r['unanswered']} "
          f"unanswered; mean CER {m['cer']:.2f}, WER {m['wer']:.2f}, CHrF {m['chrf']:.2f}; {args.output}/results.json")
    return 0


def _jeem(args: argparse.Namespace) -> int:
    from ainkit.stages.evaluate import jeem

    if not args.model:
        raise ValueError("--model is required for jeem (a vision model: openai:NAME or hf:PATH)")
    data = jeem.data_file(args.data, args.output)
    r = jeem.run(args.model, data, args.output, args.limit, args.concurrency, args.base_url, seed=args.seed)
    for line in jeem.render(r):
        print(f"[evaluate] jeem {args.model}: {line}")
    print(f"[evaluate] jeem: {r['items']} items; per dialect in {args.output}/results.json")
    return 0


def _arb(args: argparse.Namespace) -> int:
    from ainkit.stages.evaluate import arb

    if not args.model or not args.judge:
        raise ValueError("arb needs --model (a vision model: openai:NAME or hf:PATH) and --judge (the authors used "
                         f"openai:{arb.JUDGE_MODEL})")
    data = arb.data_file(args.data, args.output, args.allow_download, args.limit)
    r = arb.run(args.model, args.judge, data, args.output, args.limit, args.concurrency, args.base_url)
    print(f"[evaluate] arb {args.model}: {r['items']} items, {r['unanswered']} unanswered, {r['judge_unusable']} "
          f"judge replies not 0/1 (counted 0); final-answer accuracy {r['accuracy']:.4f}; {args.output}/results.json")
    return 0
