"""The `ainkit` command: one sub-command per stage, each looked up in a registry and imported lazily.

    ainkit --help
    ainkit reproduce --only 06,07 -p extra_scores my_model.json
    ainkit paper show table1
"""
from __future__ import annotations

import argparse
import signal
import sys
import traceback
from typing import Callable

from ainkit import __version__
from ainkit.ground.errors import EXIT_ALL_FAILED, EXIT_BUG, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_USAGE, UserError, epilog

# options every sub-command takes
_COMMON = argparse.ArgumentParser(add_help=False)
_COMMON.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help="show the full traceback of an error (default: one line)")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run the notebooks (papermill), write REPRODUCTION.md/.html and manifest.json",
                       description="Execute the numbered notebooks in order through papermill into reports/notebooks/, "
                       "then build reports/REPRODUCTION.md and REPRODUCTION.html (scoreboard, findings, published vs kit "
                       "per artefact) and reports/manifest.json (git commit, package versions, parameters, seconds and "
                       "inputs fingerprint per notebook). A notebook whose inputs are unchanged since the last run in the "
                       "same output folder (notebook, parameters, ainkit/ and configs/ files, packages, profile: see "
                       "ainkit.reproduction.rerun) and whose outputs are all still there is reused, not run; --force reruns. Stops at "
                       "the first failing notebook and shows the failing cell.",
                       epilog="exit codes: 0 done; 1 a notebook failed (its cell and error are shown); 2 a user error")
    p.add_argument("--only", metavar="NN,NN", help="run only these notebooks, by number or name (e.g. 06,07)")
    p.add_argument("--force", nargs="?", const="all", metavar="NN,NN",
                   help="rerun even when the inputs are unchanged: all selected notebooks, or only these (e.g. --force 06)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a notebook parameter in every selected notebook that declares it (repeatable); "
                        "cast to the type the notebook declares. Never a secret: use environment variables")
    p.add_argument("--profile", choices=["local", "paper"], default="local",
                   help="local (default): offline embedded stand-ins; paper: the report's real models and services "
                        "(needs network and keys in environment variables)")
    p.add_argument("--out", metavar="DIR", help="write figures/ and reports/ under DIR instead of the kit's own folders")
    p.add_argument("--notebooks", metavar="DIR", help="take the notebooks from DIR instead of notebooks/")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args: argparse.Namespace) -> int:
    """Errors are ReproduceError (a UserError: exit 2) or NotebookFailed (exit 1); main() reports them."""
    from ainkit.reproduction.reproduce import run

    run(only=args.only, overrides=args.parameter, profile=args.profile, out_root=args.out, notebooks_dir=args.notebooks,
        force=args.force)
    return 0


def _add_paper(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="list or show the report's published numbers",
                       description="The report's published numbers (ainkit/reproduction/paper/), each with the table or figure it comes from.")
    psub = p.add_subparsers(dest="paper_cmd", required=True)
    psub.add_parser("list", help="list the artefacts")
    show = psub.add_parser("show", help="print one artefact, e.g. `ainkit paper show table1`")
    show.add_argument("name", help="artefact name (see `ainkit paper list`)")
    p.set_defaults(func=_run_paper)


def _run_paper(args: argparse.Namespace) -> int:
    from ainkit.reproduction import paper

    if args.paper_cmd == "list":
        for name in paper.artefacts():
            print(f"{name:<12} {paper.meta(name)['title']}")
        return 0
    try:
        print(paper.show(args.name))
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    return 0


def _stage_options(p: argparse.ArgumentParser) -> None:
    """--rejects, --shard and --restart: the same on every record stage."""
    p.add_argument("--rejects", help="rejects file (default: <output stem>.rejects.jsonl)")
    p.add_argument("--shard", metavar="I/N", help="process only shard I of N (by id hash), e.g. one task of a SLURM array")
    p.add_argument("--restart", "--no-resume", dest="restart", action="store_true",
                   help="discard an earlier run's journal and start over (needed when the settings changed)")


def _add_similarity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similarity", help="score English-Arabic pairs by cross-lingual cosine similarity",
                       description="Add `similarity` (cosine of the two sentences' normalised embeddings, -1..1) and "
                       "`similarity_encoder` to every JSON Lines record. Keeps input order; records with a missing or "
                       "empty side, malformed lines and duplicate ids go to the rejects file with the reason and line. "
                       "A text longer than --max-chars is cut there (the encoders themselves stop at their maximum "
                       "sequence length, 128-512 tokens) and the record lists it in `similarity_truncated`. "
                       "Resumes from <output>.journal after a crash or Ctrl-C, when the settings are the same.",
                       epilog="Encoders: auto (default: LaBSE, the report's choice, when it is in the local Hugging Face "
                       "cache or --allow-download is given, else use-multilingual, which runs offline), M-BERT, "
                       "Paraphrase-XLM-R, all-mpnet-base-v2, LaBSE, AraBERT (the report's), use-multilingual and "
                       "all-MiniLM-L6-v2, a hub id, or a local model folder. all-mpnet-base-v2 and all-MiniLM-L6-v2 are "
                       "English-only: their scores of Arabic text do not measure translation quality. " + epilog(),
                       parents=[_COMMON])
    p.add_argument("--input", required=True, help="JSON Lines file of pairs")
    p.add_argument("--output", required=True, help="JSON Lines file to write (atomically)")
    p.add_argument("--encoder", default="auto", help="encoder name (default: auto, see below)")
    p.add_argument("--en-field", default="en", help="field holding the English text (default: en)")
    p.add_argument("--ar-field", default="ar", help="field holding the Arabic text (default: ar)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per encoder batch (default: 32)")
    p.add_argument("--max-chars", type=int, default=None, help="cut longer texts here before encoding (default: 8 characters "
                   "per token of the encoder's maximum sequence length)")
    _stage_options(p)
    p.add_argument("--allow-download", action="store_true", help="allow fetching the encoder from the Hugging Face hub")
    p.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto",
                   help="auto (default): ONNX Runtime when it reproduces PyTorch to 1e-4 (about 2.5x faster on CPU), "
                        "else PyTorch; onnx: insist on it; torch: PyTorch only")
    p.set_defaults(func=_run_similarity)


def _run_similarity(args: argparse.Namespace) -> int:
    from ainkit.stages.similarity import score_records

    summary = score_records(args.input, args.output, args.encoder, args.en_field, args.ar_field, args.batch_size,
                            args.rejects, args.shard, allow_download=args.allow_download or None,
                            progress=sys.stderr.isatty(), resume=not args.restart, runtime=args.runtime,
                            max_chars=args.max_chars, warn=lambda msg: print(f"ainkit similarity: warning: {msg}", file=sys.stderr))
    print(summary.line("similarity"))
    return summary.exit_code()


def _add_metrics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="BLEU-2/4, METEOR, ROUGE-1/L of hypothesis vs reference (Table 9)",
                       description="Add bleu2, bleu4, meteor, rouge1_p/r/f and rougeL_p/r/f to every JSON Lines record, "
                       "all on a 0-1 scale (1 = identical), then print corpus-level scores with their signatures. "
                       "Arabic-safe: BLEU tokenizes with sacrebleu's intl tokenizer (splits Arabic punctuation); METEOR "
                       "and ROUGE use the kit's Unicode word tokenizer. METEOR's WordNet comes from the set-up (offline). "
                       "A side with more than --max-words words is rejected with the reason (METEOR and ROUGE-L grow "
                       "with the square of the length).", epilog=epilog(), parents=[_COMMON])
    p.add_argument("--input", required=True, help="JSON Lines file")
    p.add_argument("--output", required=True, help="JSON Lines file to write (atomically)")
    p.add_argument("--reference-field", default="reference", help="field with the reference text (default: reference)")
    p.add_argument("--hypothesis-field", default="hypothesis", help="field with the text to score (default: hypothesis)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.add_argument("--tokenize", default="intl", choices=["intl", "13a", "char", "none"], help="sacrebleu tokenizer for BLEU (default: intl)")
    p.add_argument("--max-words", type=int, default=None, help="longest side scored, in words, each punctuation mark counting as one (default: 1000)")
    _stage_options(p)
    p.set_defaults(func=_run_metrics)


def _run_metrics(args: argparse.Namespace) -> int:
    from ainkit.stages import metrics

    config = metrics.Config(bleu_tokenize=args.tokenize)
    summary, corpus = metrics.score_records(args.input, args.output, args.reference_field, args.hypothesis_field,
                                            args.workers or metrics.default_workers(), config, args.rejects, args.shard,
                                            progress=sys.stderr.isatty(), resume=not args.restart,
                                            max_words=args.max_words or metrics.MAX_WORDS)
    print(summary.line("metrics"))
    sig = config.signatures()
    for key, value in corpus.items():
        name = {"bleu2": "corpus_bleu2", "bleu4": "corpus_bleu4"}.get(key, key.split("_")[0])
        print(f"  corpus {key:<9} {value:.4f}  {sig.get(name, sig.get(key, ''))}")
    return summary.exit_code()


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="the Figure 13 funnel: keep pairs whose scores clear every threshold",
                       description="Keep a record only when every rule holds (score >= threshold); rejected records "
                       "are written with every rule they failed; a funnel summary (records in, dropped at each rule, "
                       "kept) is written as JSON beside the output. Defaults are the report's Figure 13: similarity 0.8, "
                       "bleu4 0.6, meteor 0.8, rouge1_f 0.8. Rule names: similarity, bleu2, bleu4, meteor, rouge1_p/r/f, "
                       "rougeL_p/r/f; an unknown name is refused.", epilog=epilog(), parents=[_COMMON])
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True, help="kept records")
    p.add_argument("--rejects", help="rejected and malformed records (default: <output stem>.rejects.jsonl)")
    p.add_argument("--shard", metavar="I/N", help="process only shard I of N (by id hash)")
    p.add_argument("--threshold", action="append", metavar="NAME=VALUE",
                   help="a rule, repeatable (e.g. --threshold similarity=0.8); replaces the defaults")
    p.add_argument("--summary", help="funnel JSON (default: <output stem>.funnel.json)")
    p.add_argument("--compute-missing", action="store_true",
                   help="compute scores the rules need but records lack (metrics from reference/hypothesis, "
                        "similarity with --encoder)")
    p.add_argument("--encoder", default="use-multilingual", help="encoder for a missing similarity (default: use-multilingual)")
    p.add_argument("--reference-field", default="reference")
    p.add_argument("--hypothesis-field", default="hypothesis")
    p.add_argument("--en-field", default="en")
    p.add_argument("--ar-field", default="ar")
    p.set_defaults(func=_run_verify)


def _run_verify(args: argparse.Namespace) -> int:
    from ainkit.pipelines.rescore import MissingScores
    from ainkit.stages import verify

    rules = verify.parse_thresholds(args.threshold)
    fill = MissingScores(rules, args.encoder, args.reference_field, args.hypothesis_field, args.en_field, args.ar_field) \
        if args.compute_missing else None
    funnel = verify.run(args.input, args.output, args.rejects, rules, args.summary, fill, shard=args.shard)
    print(funnel.line())
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="kept chat records -> a LLaMA-Factory / ms-swift training set, images beside it",
                       description="Write kept chat records (JSON Lines with `messages` or `conversations` and `images`, as "
                       "translate and verify write them) into OUTPUT as a training set: NAME.jsonl (LLaMA-Factory's "
                       "ShareGPT shape with role/content turns and images relative to OUTPUT; `ainkit train --set "
                       "data=OUTPUT/NAME.jsonl` reads it too), its entry in OUTPUT/dataset_info.json (LLaMA-Factory: "
                       "dataset_dir OUTPUT, dataset NAME), NAME.swift.jsonl (ms-swift: `swift sft --dataset` it; image paths "
                       "absolute) and OUTPUT/images/ holding every image used. Records that would not train go to the "
                       "rejects file with the line and every reason: no chat, turns not user/assistant pairs (user first, "
                       "after an optional system turn), an empty turn, <image> placeholders and images that differ in "
                       "number, an image that is missing, too large or does not decode whole. Refuses (exit 2) when none of the "
                       "first relative image paths exists under the images folder. Resumes after a crash or Ctrl-C.",
                       epilog="e.g. ainkit export --input runs/verify/kept.jsonl --output data/  (writes data/ain_curated.jsonl, "
                       "the file configs/train/ain_7b.yaml trains on). " + epilog(), parents=[_COMMON])
    p.add_argument("--input", required=True, help="kept records (JSON Lines)")
    p.add_argument("--output", required=True, help="folder to write the data set into (created if missing)")
    p.add_argument("--name", default="ain_curated", help="data set name: file stem and dataset_info.json key (default: ain_curated)")
    p.add_argument("--images", choices=["copy", "link", "symlink"], default="copy",
                   help="put each image into OUTPUT/images by copy (default: the set stands alone), link (hard link: no "
                        "extra space, same file system only) or symlink (points at the originals)")
    p.add_argument("--images-dir", help="folder relative image paths are resolved against (default: for a curate run's "
                   "kept.jsonl, the images folder its run.json records; else the input file's folder)")
    p.add_argument("--rejects", help="rejects file (default: OUTPUT/NAME.rejects.jsonl)")
    p.add_argument("--restart", "--no-resume", dest="restart", action="store_true",
                   help="discard an earlier run's journal and start over (needed when the settings changed)")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from ainkit.pipelines import export

    summary, files = export.run(args.input, args.output, args.name, args.images, args.images_dir, args.rejects,
                                resume=not args.restart, progress=sys.stderr.isatty())
    print(summary.line("export"))
    print(f"[export] {files['data']} + {files['dataset_info']} (LLaMA-Factory dataset {args.name!r}; ainkit train), "
          f"{files['swift']} (ms-swift)" + (f"; rejects in {files['rejects']}" if summary.rejected or summary.malformed else ""))
    return summary.exit_code()


def _llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM endpoint (default: OPENAI_BASE_URL / OPENAI_API_KEY if set, else the embedded local server)")
    g.add_argument("--model", help="openai:NAME (OPENAI_BASE_URL/OPENAI_API_KEY or --base-url), local:NAME (embedded: "
                   "smollm2-135m, a stand-in whose translations are not usable data), mt:PATH (translate: a dedicated MT "
                   "model such as opus-mt-en-ar or NLLB-200, a folder or a hub id), or a plain model name at "
                   "--base-url/--backend (default: the backend's, gpt-4o-mini, or local:smollm2-135m when no endpoint is set)")
    g.add_argument("--backend", help="a named backend from configs/llm.yaml")
    g.add_argument("--base-url", help="any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY)")
    g.add_argument("--local-model", default=None, help="same as --model local:NAME")
    g.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    g.add_argument("--rpm", type=int, help="requests-per-minute ceiling")
    g.add_argument("--tpm", type=int, help="tokens-per-minute ceiling")
    g.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    g.add_argument("--max-retries", type=int, default=5, help="retries on 429/5xx/timeouts (default 5)")
    g.add_argument("--cache-dir", help="shared answer cache (default: ~/.cache/ainkit/store, or AINKIT_CACHE_DIR); "
                   "an answer paid for once is never paid again, whatever the output path")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the answer cache")
    g.add_argument("--cache-across-endpoints", action="store_true",
                   help="reuse cached answers of any endpoint serving the same model name (default: answers are keyed by "
                        "the endpoint too: its base URL, or the embedded model file's checksum)")


def _endpoint(args):
    from ainkit.services import endpoint

    return endpoint.from_args(args)


def _client_for(args, backend):
    from ainkit.services import cache
    from ainkit.services.llm import Client

    return Client(backend, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, timeout=args.timeout,
                  max_retries=args.max_retries, cache=cache.open_cache(args.cache_dir, enabled=not args.no_cache),
                  share_across_endpoints=args.cache_across_endpoints)


def _add_curate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curate", help="the report's whole data pipeline over shards: translate -> ... -> export",
                       description="Run the report's data pipeline (Figure 13) on chat records: per shard translate "
                       "(EN->AR, <image> kept in place) -> back-translate -> similarity -> metrics -> verify (the config's "
                       "thresholds) -> toxicity (each image judged once, through the decision cache every shard shares; "
                       "`toxicity.mode: required` keeps no image it could not judge, `skip` screens none and says so), "
                       "then merge: OUTPUT/kept.jsonl and rejects.jsonl (stage and every reason) in input order, "
                       "funnel.json + funnel.png (records per step and why they left), export/ (LLaMA-Factory and "
                       "ms-swift data set with its images and manifest.json) and summary.json (records, requests, tokens, "
                       "cost and seconds per step). Every step resumes after a crash, a kill or a SLURM preemption: run the "
                       "same command again. A re-run with other settings or another input stops and names the difference.",
                       epilog="e.g. ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl "
                       "--output runs/curate/demo   (offline; presets: configs/curate/ain.yaml is the report's set-up). "
                       + epilog(), parents=[_COMMON])
    p.add_argument("--config", required=True, help="pipeline settings (YAML): configs/curate/ain.yaml (the report's), "
                   "configs/curate/tiny.yaml (offline)")
    p.add_argument("--input", required=True, help="chat records: JSON Lines, Parquet, or a Hugging Face `datasets` folder "
                   "(save_to_disk), each record with `messages` (role/content) or `conversations` (from/value) and "
                   "optional `images` (paths)")
    p.add_argument("--images", metavar="DIR", help="folder the records' image paths are relative to (default: the input's folder)")
    p.add_argument("--output", required=True, metavar="DIR", help="run folder (e.g. runs/curate/NAME)")
    p.add_argument("--executor", choices=["local", "slurm", "debug"], default="local",
                   help="local (default): shards one after another here; slurm: a job array (one task a shard) and a "
                        "dependent merge job; debug: here, through submitit's DebugExecutor (pdb on errors)")
    p.add_argument("--shards", type=int, help="number of shards (default: the config's `shards`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of the config, e.g. --set translate.concurrency=32 --set toxicity.mode=skip "
                        "(repeatable; VALUE is read as YAML)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (records per shard, requests, tokens, cost at configs/llm.yaml's prices, synchronous "
                        "and Batch API; CPU-hours measured here for an mt: model) and, for slurm, the sbatch script; "
                        "warn about every model, key or service the real run would stop on; send, submit and write nothing")
    p.add_argument("--restart", action="store_true", help="discard the run folder's earlier work and start over")
    p.add_argument("--cache-dir", help="answer and decision cache (default: AINKIT_CACHE_DIR or ~/.cache/ainkit/store; "
                   "on a cluster, a folder every node sees)")
    p.set_defaults(func=_run_curate)


def _run_curate(args: argparse.Namespace) -> int:
    from ainkit.pipelines import curate

    cfg = curate.load_config(args.config, args.overrides, args.shards)
    if args.dry_run:
        for line in curate.plan_lines(curate.plan(cfg, args.input)):
            print(f"[curate] plan: {line}")
        if args.executor == "slurm":
            print(f"[curate] sbatch script of the shard array (submitted by submitit; the merge follows with "
                  f"--dependency=afterok):\n{curate.sbatch_script(cfg, args.output)}", end="")
        try:  # a plan is useful before the keys and models are in place: say what the real run would refuse
            curate.check_services(cfg, curate.STEPS)
        except UserError as exc:
            print(f"[curate] dry run: WARNING: the real run would stop here ({str(exc).removesuffix('. Nothing was sent')}); "
                  "fix that before running without --dry-run")
        print("[curate] dry run: nothing sent, submitted or written")
        return 0
    summary = curate.run(cfg, args.input, args.output, args.images, args.executor, args.restart, args.cache_dir,
                         progress=sys.stderr.isatty())
    for line in curate.summary_lines(summary):
        print(line)
    print(f"[curate] wrote {args.output}/kept.jsonl, rejects.jsonl, funnel.json, funnel.png, export/, summary.json")
    return 0


def _add_translate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate JSON Lines records English <-> Arabic through an LLM",
                       description="Translate one text field (--field) or every chat turn (--messages: 'messages' "
                       "role/content or ShareGPT 'conversations' from/value, <image> placeholders kept in place) of each "
                       "record. Every output is checked (empty, wrong script, placeholders lost/added, length ratio, "
                       "refusal, cut off); records with issues go to the rejects file with `translation_issues`. "
                       "Output keeps input order; a crashed run resumes without re-sending completed requests. A "
                       "request that 401/403/404s stops the run at once; strings longer than --max-chars are rejected "
                       "unsent. --batch sends the requests through OpenAI's Batch API (half the price, answers within "
                       "24 h; batch ids are journalled, so the same command picks up its batches after a crash; "
                       "requests a batch did not answer go to the rejects file, and the same command sends them "
                       "again). --max-cost refuses a run whose estimate is over it before any request.",
                       epilog=epilog(), parents=[_COMMON])
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--field", default="text", help="the text field to translate (default: text); writes <field>_<target>")
    what.add_argument("--messages", action="store_true", help="translate every turn of chat records in place")
    p.add_argument("--output-field", help="field for the translation in --field mode (default: <field>_ar or <field>_en)")
    p.add_argument("--direction", choices=["en-ar", "ar-en"], default="en-ar", help="en-ar (default) or ar-en (back-translation)")
    p.add_argument("--prompt-lang", choices=["en", "ar"], default="ar",
                   help="language of the instruction prompt (default ar: the report found the Arabic prompt better)")
    p.add_argument("--max-tokens", type=int, default=1024, help="longest answer per string (default 1024)")
    p.add_argument("--max-chars", type=int, default=None, help="longest string sent, in characters (default 20000)")
    _stage_options(p)
    p.add_argument("--window", type=int, default=0,
                   help="strings read ahead of the answers, which bounds memory (default: 4 x --concurrency)")
    p.add_argument("--batch", action="store_true", help="send the requests through OpenAI's Batch API (50 %% of the price)")
    p.add_argument("--allow-download", action="store_true", help="with --model mt:HUB_ID, download the MT model from the "
                   "Hugging Face hub when it is not in the local cache (default: offline)")
    p.add_argument("--mt-batch-size", type=int, default=16, help="with --model mt:..., strings per generate() batch "
                   "(default 16)")
    p.add_argument("--batch-requests", type=int, default=50_000, help="requests per batch file (default and OpenAI's "
                   "limit: 50000)")
    p.add_argument("--batch-poll", type=float, default=60.0, help="seconds between batch status checks (default 60)")
    p.add_argument("--max-cost", type=float, metavar="USD", help="refuse (exit 2, nothing sent) when the estimated cost "
                   "is over USD: prompt tokens approximated, --max-tokens for every answer, at configs/llm.yaml's "
                   "prices (Batch API prices with --batch); answers already in the cache are free")
    _llm_options(p)
    p.set_defaults(func=_run_translate)


def _run_translate(args: argparse.Namespace) -> int:
    import contextlib

    from ainkit.services import endpoint
    from ainkit.stages import translate

    settings = translate.Settings(args.direction, args.prompt_lang, max_tokens=args.max_tokens,
                                  max_chars=args.max_chars or translate.MAX_CHARS)
    ep = _endpoint(args)
    if args.batch and ep.kind != "openai":
        raise UserError(f"--batch: {ep.describe()} has no Batch API; use an OpenAI endpoint (openai:NAME, --base-url, "
                        "--backend)")
    if args.batch and args.no_cache:
        raise UserError("--batch keeps the answers in the answer cache; it cannot run with --no-cache")
    if args.max_cost is not None and args.max_cost < 0:
        raise UserError(f"--max-cost {args.max_cost:g}: expected a non-negative amount of USD")
    batch = translate.BatchOptions(args.batch_requests, args.batch_poll) if args.batch else None
    backend_holder = {}

    @contextlib.contextmanager
    def opened():
        if ep.kind == "mt":  # a dedicated MT model on this machine (ainkit.services.mt)
            from ainkit.services import cache, mt

            client = mt.open_client(ep.name, args.direction, args.allow_download, args.mt_batch_size,
                                    cache.open_cache(args.cache_dir, enabled=not args.no_cache))
            print(f"[translate] endpoint: {client.backend.describe()} ({client.engine.kind}, {client.engine.device})",
                  flush=True)
            backend_holder["client"] = client
            try:
                yield client
            finally:
                client.close()
            return
        with endpoint.open_endpoint(ep) as b:
            print(f"[translate] endpoint: {b.describe()}", flush=True)
            client = _client_for(args, b)
            backend_holder["client"] = client
            try:
                yield client
            finally:
                client.close()

    summary = translate.run(args.input, args.output, opened, settings, None if args.messages else args.field,
                            args.messages, args.output_field, args.rejects, args.shard, args.window,
                            progress=sys.stderr.isatty(), resume=not args.restart, model=ep.describe(), batch=batch,
                            max_cost=args.max_cost)
    print(summary.line("translate"))
    print(backend_holder["client"].stats.line())
    return summary.exit_code()


def _add_toxicity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("toxicity", help="judge images with a vision LLM under the LlavaGuard policy (Figure 16)",
                       description="Send each image (resized) with the kit's LlavaGuard-taxonomy policy to a vision judge "
                       "and record toxicity {rating Safe|Unsafe|Unparsed, category, rationale, model, policy_version}. "
                       "Answers that are not exactly the JSON asked for are Unparsed and filtered like Unsafe (fail "
                       "closed); `keep` is true only for Safe. Decisions are cached by image sha256 + policy + model. "
                       "Unreadable images go to the rejects file. Text-only backends are refused.",
                       epilog="GPT-4o: OPENAI_API_KEY=... ainkit toxicity --input imgs/ --output judged.jsonl "
                       "--base-url https://api.openai.com/v1 --model gpt-4o --vision yes. Self-hosted LlavaGuard: "
                       "vllm serve AIML-TUDA/LlavaGuard-v1.2-7B-OV-hf, then ainkit toxicity --input imgs/ --output "
                       "judged.jsonl --base-url http://127.0.0.1:8000/v1 --model AIML-TUDA/LlavaGuard-v1.2-7B-OV-hf. "
                       + epilog(), parents=[_COMMON])
    p.add_argument("--input", required=True, help="a folder of images, or JSON Lines records with an image path field "
                   "(relative paths resolve against the JSON Lines file's folder)")
    p.add_argument("--output", required=True, help="judged records (JSON Lines)")
    p.add_argument("--image-field", default="image", help="field holding the image path in JSON Lines input (default: image)")
    p.add_argument("--longest-side", type=int, default=672, help="resize images to this longest side before sending (default 672)")
    _stage_options(p)
    p.add_argument("--vision", choices=["probe", "yes", "no"], default="probe",
                   help="can the backend see images? probe (default: ask it the colour of a red image), yes, no")
    p.add_argument("--no-json-mode", action="store_true", help="do not send response_format=json_object")
    _llm_options(p)
    p.set_defaults(func=_run_toxicity)


def _run_toxicity(args: argparse.Namespace) -> int:
    from ainkit.services import endpoint
    from ainkit.stages import toxicity

    backend = endpoint.vision_backend(_endpoint(args), args.vision)
    print(f"[toxicity] judge: {backend.describe()}; policy {toxicity.POLICY_VERSION}", flush=True)
    client = _client_for(args, backend)
    try:
        summary, counts = toxicity.run(args.input, args.output, client, args.rejects, args.image_field, args.longest_side,
                                       not args.no_json_mode, progress=sys.stderr.isatty(), resume=not args.restart)
    finally:
        client.close()
    print(summary.line("toxicity") + f"; Safe {counts['Safe']}, Unsafe {counts['Unsafe']}, Unparsed {counts['Unparsed']} "
          f"(filtered as unsafe), {counts['from cache']} from the decision cache")
    print(client.stats.line())
    return summary.exit_code()


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on ArabicMMLU, or score CAMEL-Bench answers in both modes",
                       description="ArabicMMLU: ask the model every item once (answers kept in the shared cache, so a "
                       "re-run asks nothing), score per category and in total. CAMEL-Bench: score a predictions file "
                       "({dataset, id, prediction, answer} per line) with the benchmark's original scorers and the kit's "
                       "corrected ones, side by side, aggregated to the 8 domains. Writes OUTPUT/predictions.jsonl and "
                       "OUTPUT/results.json (accuracies 0-1), which notebook 06 overlays on the radar and tables.")
    p.add_argument("--benchmark", required=True, choices=["arabic-mmlu", "camel-bench"])
    from ainkit.services.endpoint import add_endpoint_options

    add_endpoint_options(p, "openai:NAME (OPENAI_BASE_URL/KEY), local:smollm2-135m (embedded), hf:PATH (a "
                         "local causal LM by its logits, or a Qwen2-VL checkpoint of `ainkit train`: logits for ArabicMMLU, "
                         "generation with the images for CAMEL-Bench)", model_default="", named=False)
    p.add_argument("--data", default="fixture", help="ArabicMMLU: a CSV in the published schema; CAMEL-Bench: item records "
                   "(JSON Lines); 'fixture' (the kit's, default); 'hub' (the real sets, with --allow-download)")
    p.add_argument("--datasets", default="", help="CAMEL-Bench sets to fetch with --data hub, comma-separated (default: all 44)")
    p.add_argument("--allow-download", action="store_true", help="allow --data hub to download from the Hugging Face hub")
    p.add_argument("--predictions", help="CAMEL-Bench answers to score: JSON Lines {dataset, id, prediction, answer}, or the "
                   "benchmark's own results/ folder of <model>_<dataset>.json files")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--limit", type=int, help="first N items only")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--judge", help="CAMEL-Bench open-ended sets (vqav2, mathvista, geochat, mtvqa): an LLM judge, "
                   "openai:NAME (the benchmark used gpt-4o) or local:NAME; without one they count as errors")
    p.add_argument("--weighting", choices=["subdomain-mean", "question"], default="subdomain-mean",
                   help="CAMEL-Bench: a domain is the plain mean of its sub-domains (default) or question-weighted")
    p.set_defaults(func=_run_evaluate)
    p.epilog = epilog()


def _run_evaluate(args: argparse.Namespace) -> int:
    from ainkit.services import endpoint
    from ainkit.stages.evaluate import hub, runner

    if args.benchmark == "arabic-mmlu":
        if not args.model:
            raise ValueError("--model is required for arabic-mmlu")
        data = hub.arabic_mmlu_data(args.data, args.output, args.allow_download)
        r = runner.run_arabic_mmlu(args.model, data, args.output, args.limit, args.concurrency, args.base_url)
        acc = r["total"]["accuracy"]
        print(f"[evaluate] arabic-mmlu {args.model}: {r['items']} items, {r['asked_now']} asked now, {r['from_cache']} "
              f"from cache, {r['unanswered']} without a usable answer; accuracy {acc:.4f}; {args.output}/results.json")
    else:
        predictions = args.predictions
        if not predictions:
            kind = endpoint.parse_endpoint(args.model, args.base_url).kind if args.model else None
            if kind is None or args.data == "fixture" and kind not in ("openai", "hf"):
                raise ValueError("camel-bench needs --predictions FILE|DIR, or --model openai:NAME (with --data items.jsonl) "
                                 "or hf:PATH (a Qwen2-VL checkpoint)")
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
        else:
            print("[evaluate] camel-bench: no item with an answer key: nothing scored (scores need the authors' keys)")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune Qwen2-VL (full parameters) locally or on SLURM through submitit",
                       description="Train from a preset (configs/train/*.yaml) with --set overrides; the merged config and "
                       "git commit are written to the output folder. Executors: local (submitit LocalExecutor, --tasks "
                       "processes, gloo on CPU), slurm (one task per GPU, requeue on preemption), debug (this process).")
    p.add_argument("--config", default="configs/train/tiny.yaml", help="preset YAML (default: configs/train/tiny.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting (repeatable)")
    p.add_argument("--output-dir", help="run folder (default: the preset's, or runs/train)")
    p.add_argument("--executor", choices=["local", "slurm", "debug"], default="local")
    p.add_argument("--tasks", type=int, help="tasks per node (default: GPUs per node, or 1)")
    p.add_argument("--nodes", type=int, help="nodes (overrides the preset)")
    p.add_argument("--gpus-per-node", type=int, help="GPUs per node (overrides the preset)")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--time-min", type=int, help="time limit in minutes (default: a GPU run's planned hours x 1.5 + 15 min, "
                   "see --dry-run; a CPU run 60); a job that outlasts it is requeued and resumes from its last checkpoint")
    p.add_argument("--cpus-per-task", type=int, help="CPUs per task (default: the config's cpus_per_task, else 8 per GPU "
                   "rank, 2 per CPU rank)")
    p.add_argument("--mem-gb-per-task", type=float, help="host memory per task in GB, asked of SLURM per node (default: "
                   "the config's mem_gb_per_task, else 48 per GPU rank, the cluster's default for CPU ranks)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the SLURM script submitit would submit, the merged config and the per-GPU memory estimate; submit nothing")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from ainkit.pipelines.launch import submit
    from ainkit.stages.train.trainer import load_config

    cfg = load_config(args.config, args.set, output_dir=args.output_dir, nodes=args.nodes, gpus_per_node=args.gpus_per_node)
    cluster = {"time_min": args.time_min, "cpus_per_task": args.cpus_per_task, "mem_gb_per_task": args.mem_gb_per_task}
    if args.partition:
        cluster["partition"] = args.partition
    if args.dry_run:
        from ainkit.pipelines.launch import dry_run

        print(dry_run(cfg, args.executor, args.tasks, **cluster))
        return 0
    job = submit(cfg, args.executor, args.tasks, **cluster)
    print(f"[train] submitted job {job.job_id} ({args.executor}); logs in {cfg.output_dir}/submitit", flush=True)
    results = job.results()
    s = results[0]
    if s.get("already_done"):
        print(f"[train] {cfg.output_dir} already finished at step {s['global_step']}; nothing to do "
              f"({cfg.output_dir}/train_summary.json)")
        return 0
    print(f"[train] done: step {s['global_step']}, loss {s['train_loss']:.4f}, {s['seconds']:.1f} s, world size {s['world_size']}, "
          f"attention {s['attention']}; {cfg.output_dir}/train_summary.json")
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the embedded OpenAI-compatible server (llama.cpp) until Ctrl-C",
                       description="Start llama.cpp's OpenAI-compatible server on 127.0.0.1 with a small GGUF model "
                       "shipped on PyPI; point any client at the printed base URL.")
    p.add_argument("--model", default=None, help="smollm2-135m (default; the only embedded model, a stand-in)")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--n-ctx", type=int, default=2048, help="context length (default 2048)")
    p.epilog = ("It is ready when it has generated one token. Exit codes: 0 stopped by Ctrl-C/SIGTERM; 4 the server died "
                "(its exit signal and log are printed); 2 it could not start.")
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import time

    from ainkit.services import serve

    try:
        with serve.embedded_server(args.model or serve.DEFAULT_LOCAL_MODEL, n_ctx=args.n_ctx, port=args.port, verbose=True,
                                   workers=1) as b:  # one URL to hand out: one process, every core
            print(f"export OPENAI_BASE_URL={b.base_url}   # model name: {b.model}; Ctrl-C stops the server", flush=True)
            while (why := b.dead()) is None:
                time.sleep(1.0)
            print(f"ainkit serve: error: {why}", file=sys.stderr)
            return EXIT_ALL_FAILED
    except (KeyboardInterrupt, Terminated):
        print("[serve] stopped", file=sys.stderr)
        return 0


def _add_lab(sub: argparse._SubParsersAction) -> None:
    from ainkit.reproduction import lab

    lab.add_arguments(sub.add_parser("lab", help="JupyterLab on the notebooks with the kit's kernel (what `make lab` runs)",
                                     parents=[_COMMON])).set_defaults(func=lab.run)


def _add_gallery(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="Figures 4-5 for any models: answers side by side, one self-contained HTML page + a panel",
                       description="Join several models' CAMEL-Bench predictions files (what `ainkit evaluate` writes) by "
                       "(dataset, id) and write OUTPUT/gallery.html (images embedded, Arabic right to left, each answer with "
                       "its verdict in both scoring modes and the judge's grade where there is one; filters by data set, "
                       "domain and 'models disagree') and OUTPUT/fig05_side_by_side.png/.pdf, a paper panel.",
                       epilog="e.g. ainkit gallery --predictions runs/a/predictions.jsonl runs/b/predictions.jsonl --output "
                       "runs/gallery. " + epilog(), parents=[_COMMON])
    p.add_argument("--predictions", nargs="+", required=True, metavar="FILE", help="one predictions file per model")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for gallery.html and the panel")
    p.add_argument("--items", help="item records with question and images (default: the kit's CAMEL-Bench fixture)")
    p.add_argument("--names", nargs="+", metavar="NAME", help="model names, one per predictions file (default: the model "
                   "in results.json beside the file, else the folder or file name)")
    p.add_argument("--panel", help="items in the panel, comma-separated ids or dataset/id (default: up to 4 where models disagree)")
    p.set_defaults(func=_run_gallery)


def _run_gallery(args: argparse.Namespace) -> int:
    from ainkit.pipelines import gallery

    summary = gallery.build(args.predictions, args.output, args.items, args.names,
                            [s for s in args.panel.split(",") if s] if args.panel else None)
    print(gallery.line(summary))
    return 0


def _add_survey(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("survey", help="a blind side-by-side survey of models' answers: build the form, analyse the responses",
                       description="build: a static bilingual HTML form (no server) with model identities hidden and the "
                       "answers in a seeded order per rater and question, plus the de-blinding key apart from it. analyze: "
                       "shares with bootstrap intervals, Bradley-Terry strengths, position bias, Krippendorff's alpha, "
                       "breakdowns, Figures 7-9 from the responses; every bad response is listed by file and rater.",
                       epilog=epilog(), parents=[_COMMON])
    ssub = p.add_subparsers(dest="survey_cmd", required=True)
    b = ssub.add_parser("build", help="write OUTPUT/form/survey.html, OUTPUT/key.json and OUTPUT/raters.csv", parents=[_COMMON])
    b.add_argument("--answers", nargs="+", required=True, metavar="FILE", help="one predictions file per model (at least two)")
    b.add_argument("--items", help="the questions: item records with question, images, answer (default: the kit's fixture)")
    b.add_argument("--output", required=True, metavar="DIR")
    b.add_argument("--names", nargs="+", metavar="NAME", help="model names, one per answers file (only the key holds them)")
    b.add_argument("--raters", type=int, default=20, help="rater codes to issue (default 20)")
    b.add_argument("--seed", help="order seed (default: random); the key records it")
    b.add_argument("--limit", type=int, help="first N questions only")
    a = ssub.add_parser("analyze", help="check and analyse the saved responses against the key", parents=[_COMMON])
    a.add_argument("--responses", required=True, metavar="DIR", help="folder of saved response files (*.json), or one file")
    a.add_argument("--key", required=True, metavar="FILE", help="the key.json `survey build` wrote")
    a.add_argument("--output", required=True, metavar="DIR")
    a.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=_run_survey)


def _run_survey(args: argparse.Namespace) -> int:
    if args.survey_cmd == "build":
        from ainkit.pipelines.survey import build

        print(build.line(build.build(args.answers, args.output, args.items, args.names, args.raters, args.seed, args.limit)))
        return 0
    from ainkit.pipelines.survey import analyze

    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap {args.bootstrap}: use at least 100 resamples")
    print(analyze.line(analyze.run(args.responses, args.key, args.output, args.bootstrap, args.seed), args.output))
    return 0


# name -> function adding the sub-command; later stages register here.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "reproduce": _add_reproduce,
    "paper": _add_paper,
    "similarity": _add_similarity,
    "metrics": _add_metrics,
    "verify": _add_verify,
    "export": _add_export,
    "curate": _add_curate,
    "translate": _add_translate,
    "serve": _add_serve,
    "toxicity": _add_toxicity,
    "evaluate": _add_evaluate,
    "train": _add_train,
    "lab": _add_lab,
    "gallery": _add_gallery,
    "survey": _add_survey,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ainkit", description="Reproduction kit for the AIN report and tools to build "
                                     "an Arabic multimodal model. Every sub-command has its own --help.", epilog=epilog())
    parser.add_argument("--version", action="version", version=f"ainkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks of errors (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    for p in sub.choices.values():  # every sub-command also takes --debug after its name
        if not any("--debug" in a.option_strings for a in p._actions):
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks of errors")
    return parser


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every `finally` runs (servers stop, journals close)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _error(args: argparse.Namespace, exc: BaseException) -> None:
    """One line on stderr (secrets scrubbed); the traceback too with --debug."""
    from ainkit.ground import redact

    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    text = str(exc) or type(exc).__name__
    print(redact.scrub(f"ainkit {args.command}: error: {text}"), file=sys.stderr)




def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (so a BrokenPipeError came from it, not from a socket)."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poll.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe to complain about."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Parse, run the sub-command, and turn every way it can end into one line and an exit code (ainkit.ground.errors).
    When the reader of stdout goes away, it stops quietly with 141, as a command killed by SIGPIPE does."""
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled, not at interpreter exit
        return code
    except BrokenPipeError as exc:
        if not _stdout_closed():  # a socket or another pipe: an error like any OSError
            _error(args, exc)
            return EXIT_USAGE
        _quiet_stdout()
        return EXIT_PIPE
    except (KeyboardInterrupt, Terminated) as exc:
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"ainkit {args.command}: {what}; finished work is kept: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as exc:
        _error(args, exc)
        return exc.exit_code
    except (ValueError, OSError) as exc:  # a bad value or path the stage did not phrase itself
        _error(args, exc)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with the traceback
        traceback.print_exception(exc)
        print(f"ainkit {args.command}: unexpected error (a bug; please report it with the traceback above)", file=sys.stderr)
        return EXIT_BUG
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
