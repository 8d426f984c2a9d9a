"""A tiny, randomly initialised Marian translation model built here, offline, in the layout of Helsinki-NLP's opus-mt
folders (config, weights, source.spm / target.spm SentencePiece models, vocab.json): the MT backend's real code path
(AutoTokenizer -> MarianTokenizer, AutoModelForSeq2SeqLM -> MarianMTModel) without downloading anything."""
from __future__ import annotations

import json
from pathlib import Path

CORPUS = ["The cat is on the table.", "A red bus waits at the light.", "How many birds are on the wire?",
          "القطة على الطاولة.", "حافلة حمراء تنتظر عند الإشارة.", "كم عدد الطيور على السلك؟",
          "Two children play football on the beach.", "طفلان يلعبان كرة القدم على الشاطئ."] * 20


def build(folder: Path, seed: int = 0) -> Path:
    """Write a tiny Marian EN->AR model into `folder` and return it."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_prefix=str(folder / "sp"), vocab_size=60,
                                   character_coverage=1.0, model_type="unigram", bos_id=-1, eos_id=1, unk_id=2, pad_id=0,
                                   minloglevel=2)
    (folder / "sp.model").rename(folder / "source.spm")
    (folder / "target.spm").write_bytes((folder / "source.spm").read_bytes())
    (folder / "sp.vocab").unlink()
    sp = spm.SentencePieceProcessor(model_file=str(folder / "source.spm"))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tok = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"),
                          source_lang="en", target_lang="ar")
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                          pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1)
    MarianMTModel(config).save_pretrained(folder)
    return folder
