"""Subword tokenizers for text models: Hugging Face ``tokenizers`` (Rust; no torch, no network).

A WordPiece vocabulary is trained on the training split only and saved as tokenizer.json in
the model package, so a server tokenizes exactly as training did. Known limit: the trainers
of tokenizers 0.23 (WordPiece, and BPE with a subword prefix) break ties between equally
frequent candidates in hash order, so two trainings on the same texts pick slightly
different vocabularies (4 of 4 runs differed, on fortunes and on a toy corpus). A run must
therefore train its tokenizer once and keep the file (a resumed run reuses it); two fresh
runs with the same seed are not bit-identical for text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamina.common.errors import LaminaError
from lamina.common.package import package_file

PAD, UNK = "[PAD]", "[UNK]"  # ids 0 and 1
TOKENIZER_FILE = "tokenizer.json"


def _lib():
    try:
        import tokenizers
    except ImportError:
        raise LaminaError("text models need the tokenizers package: pip install tokenizers") from None
    return tokenizers


def train_tokenizer(texts: list[str], vocab_size: int = 8000, min_frequency: int = 2):
    """A lower-casing WordPiece tokenizer (NFKC, accents kept) trained on ``texts``, the same in every process.

    The vocabulary comes from a BPE trainer run without a continuation prefix, and each piece
    is kept twice, as a word start and as a '##' continuation. Hugging Face's WordPiece trainer
    numbers '##' pieces in hash-map order, so its ties between merges fell differently in every
    process: two runs with one seed got different vocabularies (and different weights).
    """
    tk = _lib()
    bpe = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
    _set_text_rules(tk, bpe)
    trainer = tk.trainers.BpeTrainer(
        vocab_size=max(3, vocab_size // 2), min_frequency=min_frequency, special_tokens=[PAD, UNK], show_progress=False
    )
    bpe.train_from_iterator(texts, trainer=trainer, length=len(texts))
    pieces = [p for p, _ in sorted(bpe.get_vocab().items(), key=lambda item: item[1])]
    vocab: dict[str, int] = {}
    for piece in pieces + ["##" + p for p in pieces if p not in (PAD, UNK)]:
        vocab.setdefault(piece, len(vocab))
    tok = tk.Tokenizer(tk.models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=50))
    _set_text_rules(tk, tok)
    tok.decoder = tk.decoders.WordPiece()
    return tok


def _set_text_rules(tk, tok) -> None:
    """NFKC, lower case, BERT's split on whitespace and punctuation."""
    tok.normalizer = tk.normalizers.Sequence([tk.normalizers.NFKC(), tk.normalizers.Lowercase()])
    tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()


def save_tokenizer(tok, folder: str | Path) -> Path:
    path = Path(folder) / TOKENIZER_FILE
    tok.save(str(path))
    return path


def load_tokenizer(folder: str | Path, name: str = TOKENIZER_FILE):
    path = package_file(Path(folder), name)  # a name from a package's lamina.json must stay inside it
    if not path.is_file():
        raise LaminaError(f"{path.parent}: no {name} (not a text model package)")
    try:
        return _lib().Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
        raise LaminaError(f"{path}: not a readable tokenizer file ({str(e)[:200]})") from None


def lengths(tok, texts: list[str]) -> np.ndarray:
    """Tokens per text, whole: no truncation and no padding (a pretrained tokenizer.json may carry both)."""
    tok.no_truncation()
    tok.no_padding()
    return np.array([len(e.ids) for e in tok.encode_batch(texts)], dtype=np.int64)


def encode(tok, texts: list[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (N, max_tokens) int64, right-padded with 0 and cut at max_tokens, and the lengths (N,)."""
    tok.enable_truncation(max_tokens)  # cut before special tokens are added: a BERT-style [SEP] stays at the end
    tok.no_padding()
    encodings = tok.encode_batch(texts)
    ids = np.zeros((len(texts), max_tokens), dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, e in enumerate(encodings):
        n = min(len(e.ids), max_tokens)
        ids[i, :n] = e.ids[:n]
        lengths[i] = n
    return ids, lengths
