"""The subword tokenizer: trained on the train split, saved in the package, identical after loading."""

import numpy as np

from lamina.data.tokenizer import PAD, UNK, encode, load_tokenizer, save_tokenizer, train_tokenizer

TEXTS = [
    "There is no place like 127.0.0.1",
    "Computers are useless. They can only give you answers.",
    "The best way to predict the future is to invent it.",
    "Premature optimization is the root of all evil.",
] * 5


def test_round_trip_through_the_package_folder(tmp_path):
    tok = train_tokenizer(TEXTS, vocab_size=300, min_frequency=1)
    assert tok.token_to_id(PAD) == 0 and tok.token_to_id(UNK) == 1
    save_tokenizer(tok, tmp_path)
    again = load_tokenizer(tmp_path)
    a, la = encode(tok, TEXTS + ["unseen words: zyxwv"], 16)
    b, lb = encode(again, TEXTS + ["unseen words: zyxwv"], 16)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert a.shape == (21, 16) and (a[:, :1] > 1).all()  # real tokens first, no empty encodings
    assert (la <= 16).all() and a[0, la[0] :].sum() == 0  # right-padded with [PAD] = 0


def test_lowercases_and_splits_unknown_words_into_known_pieces():
    tok = train_tokenizer(TEXTS, 300, 1)
    assert tok.encode("THERE IS").ids == tok.encode("there is").ids
    pieces = tok.encode("inventions").tokens
    assert pieces[0] == "invent" and all(p.startswith("##") for p in pieces[1:])  # subwords, not [UNK]


def test_lengths_ignore_a_tokenizer_files_own_padding_and_truncation():
    from lamina.data.tokenizer import encode, lengths, train_tokenizer

    tok = train_tokenizer(["a short text", "and a much longer text than that one"] * 5, vocab_size=200, min_frequency=1)
    tok.enable_padding(length=32)  # as a pretrained tokenizer.json may come (all-MiniLM-L6-v2's pads to 128)
    tok.enable_truncation(3)
    assert lengths(tok, ["a short text", "and a much longer text than that one"]).tolist() == [3, 8]
    ids, n = encode(tok, ["a short text"], 6)
    assert n.tolist() == [3] and ids.shape == (1, 6)
