"""Trains the demo's "Invent a word" model: a unidirectional 2-layer character nn.RNN language model,
one-to-many at inference (the app feeds back each sampled character, carrying the hidden state).
Each step's input is one-hot(previous character, with index 0 = word boundary) concatenated with
one-hot(language), so the same model invents words in the style of any of the seven languages.

    /usr/bin/python3 apps/demo/training/train_generator.py   # a few minutes on 2 cores

Writes apps/demo/public/models/word-generator.{safetensors,json}. Not part of CI.
"""
import os
import sys
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(__file__))
from common import LANGUAGES, VOCAB, read_words, split, write_json, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "public", "models")
HIDDEN = 128
SECONDS = float(os.environ.get("TRAIN_SECONDS", "240"))
TOKENS = len(VOCAB) + 1  # index 0 is the boundary: it starts every word and ends it
INPUT = TOKENS + len(LANGUAGES)
# Prefixes whose next-character probabilities the app's test checks against PyTorch's.
CHECK_PREFIXES = [("", 0), ("th", 0), ("sch", 1), ("ch", 2), ("", 3), ("qu", 4), ("ção", 5), ("ij", 6)]


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(INPUT, HIDDEN, num_layers=2)
        self.head = nn.Linear(HIDDEN, TOKENS)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        output, _ = self.rnn(packed)
        output, _ = pad_packed_sequence(output)
        return self.head(output)  # (L, N, TOKENS): logits of the next token at every step


def encode(items):
    """Inputs (boundary, c1..cn) with the language one-hot, targets (c1..cn, boundary), padded with -100."""
    L = max(len(w) for w, _ in items) + 1
    x = torch.zeros(L, len(items), INPUT)
    y = torch.full((L, len(items)), -100, dtype=torch.long)
    for b, (w, language) in enumerate(items):
        tokens = [0] + [VOCAB.index(c) + 1 for c in w] + [0]
        for t in range(len(w) + 1):
            x[t, b, tokens[t]] = 1.0
            x[t, b, TOKENS + language] = 1.0
            y[t, b] = tokens[t + 1]
    return x, torch.tensor([len(w) + 1 for w, _ in items]), y


def main():
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    train, valid = split(read_words(), per_language=30000, held_out=500, seed=1)
    model = Generator()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    start, step, epoch = time.time(), 0, 0
    while time.time() - start < SECONDS:
        epoch += 1
        for i in range(0, len(train), 128):
            x, lengths, y = encode(train[i:i + 128])
            logits = model(x, lengths)
            loss = loss_fn(logits.reshape(-1, TOKENS), y[: logits.shape[0]].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for group in optimizer.param_groups:  # linear decay over the time budget
                group["lr"] = 3e-3 * max(0.05, 1 - (time.time() - start) / SECONDS)
            optimizer.step()
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.3f} {time.time() - start:.0f}s", flush=True)
            if time.time() - start > SECONDS:
                break
    model.eval()
    with torch.no_grad():
        x, lengths, y = encode(valid)
        logits = model(x, lengths)
        valid_loss = loss_fn(logits.reshape(-1, TOKENS), y[: logits.shape[0]].reshape(-1)).item()
    print(f"validation loss {valid_loss:.3f} nats/char ({len(valid)} held-out words)")

    checks = []
    with torch.no_grad():
        for prefix, language in CHECK_PREFIXES:
            # Feed boundary + prefix one step at a time, as the app does, carrying h.
            h = None
            for token in [0] + [VOCAB.index(c) + 1 for c in prefix]:
                x_t = torch.zeros(1, 1, INPUT)
                x_t[0, 0, token] = 1.0
                x_t[0, 0, TOKENS + language] = 1.0
                out, h = model.rnn(x_t, h)
            probabilities = torch.softmax(model.head(out[0, 0]), dim=0)
            checks.append({"prefix": prefix, "language": language,
                           "probabilities": [round(p, 7) for p in probabilities.tolist()]})
    os.makedirs(OUT, exist_ok=True)
    tensors = {f"rnn.{k}": v for k, v in model.rnn.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    write_safetensors(os.path.join(OUT, "word-generator.safetensors"), tensors)
    write_json(os.path.join(OUT, "word-generator.json"), {
        "generated": "by apps/demo/training/train_generator.py; do not edit",
        "task": "generate",
        "rnn": {"inputSize": INPUT, "hiddenSize": HIDDEN, "numLayers": 2, "nonlinearity": "tanh"},
        "vocab": VOCAB,
        "labels": [name for name, _ in LANGUAGES],
        "validationLoss": round(valid_loss, 4),
        "maxLength": 20,
        "checks": checks,
    })


if __name__ == "__main__":
    main()
