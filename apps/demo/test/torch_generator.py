"""PyTorch's answers for the word generator, for the demo's tests (PyTorch is the oracle).

    /usr/bin/python3 apps/demo/test/torch_generator.py < query.json > answer.json

The query names a .safetensors file (the demo's word-generator.safetensors, or the fine-tuned file the
"Teach it" tab downloads) and asks for any of:
  "logits":        [[prefix, language], ...]  -> head logits for the next token after boundary + prefix
  "logLikelihood": [word, ...]                -> per word, log P(letters | language) for every language
  "gradients":     {"words": [...], "language": k}
                   -> the training script's loss (mean cross-entropy, packed sequences) and every
                      parameter's .grad after loss.backward(), under the file's names
The model is built as apps/demo/training/train_generator.py builds it, and loaded strictly.
"""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    base = 8 + size
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(raw[base + start:base + end], dtype=DTYPES[entry["dtype"]]).astype(np.float32)
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors, header.get("__metadata__", {})


class Generator(nn.Module):
    def __init__(self, config, tokens):
        super().__init__()
        self.rnn = nn.RNN(config["inputSize"], config["hiddenSize"], num_layers=config["numLayers"],
                          nonlinearity=config.get("nonlinearity", "tanh"))
        self.head = nn.Linear(config["hiddenSize"], tokens)


def main():
    query = json.load(sys.stdin)
    tensors, _ = read_safetensors(query["weights"])
    config, vocab, languages = query["config"], query["vocab"], query["languages"]
    tokens = len(vocab) + 1
    model = Generator(config, tokens)
    model.load_state_dict(tensors, strict=True)
    index = {c: i + 1 for i, c in enumerate(vocab)}

    def step_input(token_rows, language_of):
        """(L, N, I) with one-hot(token) ‖ one-hot(language) at every step."""
        L, N = len(token_rows), len(token_rows[0])
        x = torch.zeros(L, N, config["inputSize"])
        for t, row in enumerate(token_rows):
            for b, token in enumerate(row):
                x[t, b, token] = 1.0
                x[t, b, tokens + language_of(b)] = 1.0
        return x

    answer = {"torch": torch.__version__}
    with torch.no_grad():
        if "logits" in query:
            answer["logits"] = []
            for prefix, language in query["logits"]:
                x = step_input([[t] for t in [0] + [index[c] for c in prefix]], lambda b: language)
                output, _ = model.rnn(x)
                answer["logits"].append(model.head(output[-1, 0]).tolist())
        if "logLikelihood" in query:
            answer["logLikelihood"] = []
            for word in query["logLikelihood"]:
                letters = [index[c] for c in word]
                x = step_input([[t] * languages for t in [0] + letters[:-1]], lambda b: b)
                output, _ = model.rnn(x)
                logp = torch.log_softmax(model.head(output).double(), dim=-1)
                answer["logLikelihood"].append([sum(logp[t, b, letters[t]].item() for t in range(len(letters))) for b in range(languages)])
    if "gradients" in query:
        words, language = query["gradients"]["words"], query["gradients"]["language"]
        L = max(len(w) for w in words) + 1
        x = torch.zeros(L, len(words), config["inputSize"])
        y = torch.full((L, len(words)), -100, dtype=torch.long)
        for b, w in enumerate(words):
            seq = [0] + [index[c] for c in w] + [0]
            for t in range(len(w) + 1):
                x[t, b, seq[t]] = 1.0
                x[t, b, tokens + language] = 1.0
                y[t, b] = seq[t + 1]
        lengths = torch.tensor([len(w) + 1 for w in words])
        output, _ = model.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
        output, _ = pad_packed_sequence(output)
        logits = model.head(output)
        loss = nn.CrossEntropyLoss(ignore_index=-100)(logits.reshape(-1, tokens), y[: logits.shape[0]].reshape(-1))
        loss.backward()
        answer["gradients"] = {"loss": loss.item(),
                               "grads": {name: p.grad.flatten().tolist() for name, p in model.named_parameters()}}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
