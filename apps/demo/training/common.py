"""Shared by the two training scripts: word lists, vocabulary, one-hot encoding, .safetensors writer."""
import json
import random
import struct
import unicodedata

import torch

# Debian word-list packages (apt-get install wamerican wngerman wfrench wspanish witalian wportuguese wdutch).
LANGUAGES = [
    ("English", "/usr/share/dict/american-english"),
    ("German", "/usr/share/dict/ngerman"),
    ("French", "/usr/share/dict/french"),
    ("Spanish", "/usr/share/dict/spanish"),
    ("Italian", "/usr/share/dict/italian"),
    ("Portuguese", "/usr/share/dict/portuguese"),
    ("Dutch", "/usr/share/dict/dutch"),
]
# The recurrent modules a demo model may use, by the name its .json gives ("module").
MODULES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
MAX_LEN = 20
# Lower-case letters only: a-z plus the accented letters these seven languages use. Words with any
# other character (apostrophes, hyphens, spaces, digits) are left out of training.
VOCAB = "abcdefghijklmnopqrstuvwxyzàáâãäçèéêëìíîïñòóôõöùúûüß"


def read_words():
    """{language: sorted list of unique lower-case words}, ambiguous words (in several lists) removed."""
    per_language = {}
    for name, path in LANGUAGES:
        with open(path, encoding="utf-8") as f:
            words = {unicodedata.normalize("NFC", w.strip()).lower() for w in f}
        per_language[name] = {w for w in words if 2 <= len(w) <= MAX_LEN and all(c in VOCAB for c in w)}
    counts = {}
    for words in per_language.values():
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    return {name: sorted(w for w in words if counts[w] == 1) for name, words in per_language.items()}


def split(words_by_language, per_language, held_out, seed):
    """Balanced train/validation lists of (word, language index)."""
    rng = random.Random(seed)
    train, valid = [], []
    for index, (name, _) in enumerate(LANGUAGES):
        words = list(words_by_language[name])
        rng.shuffle(words)
        valid += [(w, index) for w in words[:held_out]]
        train += [(w, index) for w in words[held_out:held_out + per_language]]
    rng.shuffle(train)
    return train, valid


def one_hot(words, width, offset=0):
    """(L, N, width) time-major one-hot of the words' characters, zero-padded, and their lengths."""
    L = max(len(w) for w in words)
    x = torch.zeros(L, len(words), width)
    for b, w in enumerate(words):
        for t, c in enumerate(w):
            x[t, b, offset + VOCAB.index(c)] = 1.0
    return x, torch.tensor([len(w) for w in words])


def write_safetensors(path, tensors, metadata=None, dtype="F32"):
    """The .safetensors format: 8-byte little-endian header length, a JSON header, raw LE F32 or F16 data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    numpy_type = {"F32": "<f4", "F16": "<f2"}[dtype]
    for name, tensor in tensors.items():
        data = tensor.detach().contiguous().to(torch.float32).numpy().astype(numpy_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text.encode())) % 8) % 8)  # keep the data 8-byte aligned
    encoded = text.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")
