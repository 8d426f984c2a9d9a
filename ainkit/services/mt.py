"""Dedicated machine-translation models as a translation backend: Marian (opus-mt) and NLLB-200 through transformers.

    ainkit translate --input in.jsonl --output out.jsonl --model mt:/models/opus-mt-en-ar
    ainkit translate --input ar.jsonl --output back.jsonl --field text_ar --direction ar-en --model mt:/models/opus-mt-ar-en
    ainkit translate ... --model mt:facebook/nllb-200-distilled-600M --allow-download      # one model, both directions

A chat LLM is not the only way to translate millions of turns: a dedicated encoder-decoder MT
model runs on the CPU nodes of a SLURM array at no API cost. `MTClient` has the surface of
`ainkit.services.llm.Client` (session, ask, stats, cache), so the translate stage streams, journals, checks
and resumes exactly as with an endpoint; requests in flight are gathered into batches of
`batch_size` strings (`generate` on a batch is several times faster than one string at a time).

- Models: any `AutoModelForSeq2SeqLM` folder (Marian `opus-mt-en-ar` / `opus-mt-ar-en`, NLLB-200,
  M2M100), from a local path or the Hugging Face cache; from the hub only with `allow_download`
  (the CLI's --allow-download). NLLB/M2M100 get their language codes (eng_Latn / arb_Arab); a
  Marian model translates the one direction it was trained for.
- Decoding: greedy (num_beams 1) by default, at most `max_tokens` new tokens (and no more than the
  model's positions); an output that used them all, or the translation of an input longer than
  the model takes (which the tokenizer cuts), is marked `finish_reason=length`: the stage's check
  rejects it as cut off, never kept as a whole translation.
- Cache: answers are keyed by the model's weights (sha256 of its files), the direction and the
  text, in the shared cache like every LLM answer.
- `rate`: sentences per second measured on this machine (what `ainkit curate --dry-run` prices
  in CPU-hours).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from ainkit.services import cache as cache_mod
from ainkit.services.llm import Answer, Backend, Client, LLMError

NLLB_CODES = {"en": "eng_Latn", "ar": "arb_Arab"}
M2M_CODES = {"en": "en", "ar": "ar"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".spm", ".model", ".txt")


class MTUnavailable(LLMError):
    """The MT model cannot be had here; the message says where it looked and the switch that would fetch it."""


def locate(name: str, allow_download: bool) -> Path:
    """A local folder for `name`: itself if it is a folder, else the HF cache (downloaded only when allowed)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or name.startswith((".", "~")):
        raise MTUnavailable(f"mt:{name}: no such folder")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=not allow_download))
    except Exception as exc:  # noqa: BLE001 - the hub client raises many kinds; all mean "not here"
        how = ("it could not be downloaded" if allow_download else
               "it is not in the Hugging Face cache and downloads are off: add --allow-download, or give a local folder")
        raise MTUnavailable(f"mt:{name}: {how} ({type(exc).__name__}: {str(exc)[:160]})") from None


def weights_digest(folder: Path) -> str:
    """sha256 over the model folder's weight, config and vocabulary files (names and bytes): the engine's identity."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return cache_mod.key([(f.relative_to(folder).as_posix(), cache_mod.file_sha256(f)) for f in files])


class MTEngine:
    """A seq2seq translation model on this machine's CPU (or GPU when torch sees one)."""

    def __init__(self, name: str, allow_download: bool = False, threads: int | None = None, device: str | None = None):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.name = name
        self.folder = locate(name, allow_download)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.folder).eval()
        except (OSError, ValueError, ImportError) as exc:
            raise MTUnavailable(f"mt:{name}: {self.folder} is not a loadable translation model: {str(exc)[:300]}") from None
        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.kind = self.model.config.model_type  # marian, m2m_100 (NLLB and M2M100), ...
        self.digest = weights_digest(self.folder)

    def _codes(self, direction: str) -> tuple[str | None, str | None]:
        src, tgt = direction.split("-")
        vocab = self.tokenizer.get_vocab()
        for table in (NLLB_CODES, M2M_CODES):
            s, t = table[src], table[tgt]
            if f"__{t}__" in vocab or t in vocab:
                return s, t
        return None, None  # a one-direction model (Marian)

    def translate(self, texts: list[str], direction: str, max_tokens: int = 512,
                  num_beams: int = 1) -> list[tuple[str, int, int, bool]]:
        """(translation, input tokens, output tokens, cut off) per text, in order."""
        import torch

        src, tgt = self._codes(direction)
        kwargs: dict[str, Any] = {}
        if src is not None:
            self.tokenizer.src_lang = src
            token = f"__{tgt}__" if f"__{tgt}__" in self.tokenizer.get_vocab() else tgt
            kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(token)
        limit = getattr(self.tokenizer, "model_max_length", 512)
        limit = limit if isinstance(limit, int) and 0 < limit < 100_000 else 512
        positions = getattr(self.model.config, "max_position_embeddings", None) or limit
        limit, max_tokens = min(limit, positions), max(1, min(max_tokens, positions - 1))
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]  # a text longer than `limit` is cut: say so
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=limit).to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_tokens, num_beams=num_beams, do_sample=False, **kwargs)
        eos = self.model.generation_config.eos_token_id
        forced = getattr(self.model.generation_config, "forced_eos_token_id", None)
        eos = set(eos if isinstance(eos, list) else [eos])
        results = []
        for i, row in enumerate(out):
            toks = row.tolist()[1:]  # after the decoder's start token
            ended = next((j for j, t in enumerate(toks) if t in eos), None)
            n_out = len(toks) if ended is None else ended + 1
            text = self.tokenizer.decode(row, skip_special_tokens=True).strip()
            # cut off: it used every new token, without an end of its own (Marian forces one at the limit)
            cut = (n_out >= max_tokens and (ended is None or forced is not None)) or lengths[i] > limit
            results.append((text, int(enc["attention_mask"][i].sum()), n_out, cut))
        return results

    def rate(self, texts: list[str], direction: str, batch_size: int = 16, max_tokens: int = 512) -> tuple[float, int]:
        """(strings per second, strings timed) on this machine, batch by batch; a warm-up batch is not timed."""
        if not texts:
            raise ValueError("rate: no texts to time")
        self.translate(texts[:2], direction, max_tokens)
        t0 = time.perf_counter()
        for i in range(0, len(texts), batch_size):
            self.translate(texts[i:i + batch_size], direction, max_tokens)
        return len(texts) / (time.perf_counter() - t0), len(texts)


class MTClient(Client):
    """`ainkit.services.llm.Client`'s surface over an MTEngine: the stage sends chat messages, the engine gets the user text."""

    def __init__(self, engine: MTEngine, direction: str, batch_size: int = 16, concurrency: int = 64,
                 cache: cache_mod.Cache | None | bool = True, num_beams: int = 1):
        backend = Backend("mt", f"mt:{engine.folder}", engine.name, embedded=True, vision=False,
                          identity=f"mt-sha256:{engine.digest}")
        super().__init__(backend, concurrency=max(concurrency, batch_size), cache=cache)
        self.engine, self.direction, self.batch_size, self.num_beams = engine, direction, max(1, batch_size), num_beams
        self._queue: asyncio.Queue | None = None

    def key(self, messages: list[dict], params: dict[str, Any]) -> str:
        return cache_mod.key("mt", self.backend.endpoint_id(), self.direction, messages[-1]["content"],
                             {"max_tokens": params.get("max_tokens"), "num_beams": self.num_beams})

    @contextlib.asynccontextmanager
    async def session(self):
        if self._queue is not None:
            yield self
            return
        self._queue = asyncio.Queue()
        worker = asyncio.ensure_future(self._work())
        t0 = time.monotonic()
        try:
            yield self
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            self._queue = None
            self.stats.seconds += time.monotonic() - t0

    async def _work(self) -> None:
        """Gather the strings in flight into batches and translate each batch on a worker thread."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let the other requests of this round arrive
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            by_tokens: dict[int, list] = {}
            for item in batch:
                by_tokens.setdefault(item[1], []).append(item)
            for max_tokens, items in by_tokens.items():
                try:
                    done = await loop.run_in_executor(None, self.engine.translate, [t for t, _, _ in items], self.direction,
                                                      max_tokens, self.num_beams)
                    for (_, _, fut), result in zip(items, done):
                        if not fut.done():
                            fut.set_result(result)
                except Exception as exc:  # noqa: BLE001 - the engine failed this batch: each request says why
                    for _, _, fut in items:
                        if not fut.done():
                            fut.set_exception(exc)

    async def ask(self, messages: list[dict], **params: Any) -> Answer:
        if self._queue is None:
            raise RuntimeError("MTClient.ask needs an open session: async with client.session(): ...")
        key = self.key(messages, params)
        if hit := self.counted_hit(key):
            return hit
        t0 = time.monotonic()
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((messages[-1]["content"], int(params.get("max_tokens") or 512), fut))
        answer = Answer(attempts=1)
        try:
            text, n_in, n_out, cut = await fut
            answer.content, answer.prompt_tokens, answer.completion_tokens = text, n_in, n_out
            answer.finish_reason = "length" if cut else "stop"
        except Exception as exc:  # noqa: BLE001 - recorded on the answer, the record goes to the rejects file
            answer.error = f"mt model error: {type(exc).__name__}: {str(exc)[:160]}"
        answer.seconds = time.monotonic() - t0
        self.account(answer, key)
        return answer


def open_client(name: str, direction: str, allow_download: bool = False, batch_size: int = 16,
                cache: cache_mod.Cache | None | bool = True, threads: int | None = None) -> MTClient:
    """An MTClient for `mt:NAME` (a folder or a hub id), checked and loaded before any record is read."""
    engine = MTEngine(name, allow_download, threads or int(os.environ.get("AINKIT_MT_THREADS", "0")) or None)
    return MTClient(engine, direction, batch_size=batch_size, cache=cache)
