"""Trains the demo's "Which language is this word?" model: a bidirectional 2-layer character nn.RNN,
nn.GRU or nn.LSTM, many-to-one (the top layer's final forward and reverse states, concatenated, through
a linear head). The three cell types get the same data, seed, optimiser and time budget.

    TRAIN_SECONDS=300 TRAIN_THREADS=1 /usr/bin/python3 apps/demo/training/train_classifier.py gru

The budget is CPU seconds of this process, not wall-clock seconds: on a machine shared with other work
each model then gets the same compute, whatever else runs beside it.

Writes apps/demo/public/models/language-classifier{,-gru,-lstm}.{safetensors,json}. Not part of CI.
"""
import os
import sys
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, os.path.dirname(__file__))
from common import LANGUAGES, MODULES, VOCAB, one_hot, read_words, split, write_json, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "public", "models")
HIDDEN = 128
SECONDS = float(os.environ.get("TRAIN_SECONDS", "240"))  # CPU seconds (time.process_time)
# Words the app's test checks against PyTorch's own probabilities (the oracle), one per language and more.
CHECK_WORDS = ["house", "haus", "maison", "casa", "huis", "schmetterling", "papillon", "mariposa", "farfalla",
               "borboleta", "vlinder", "butterfly", "a", "zzz", "épée", "straße"]


class Classifier(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.rnn = MODULES[module](len(VOCAB), HIDDEN, num_layers=2, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, len(LANGUAGES))

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # an LSTM returns (h_n, c_n)
            h_n = h_n[0]
        # h_n is (layer0-fwd, layer0-rev, layer1-fwd, layer1-rev): take the top layer's two directions.
        return self.head(torch.cat([h_n[2], h_n[3]], dim=1))


def accuracy(model, data):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data), 1024):
            chunk = data[i:i + 1024]
            x, lengths = one_hot([w for w, _ in chunk], len(VOCAB))
            predicted = model(x, lengths).argmax(1)
            correct += sum(int(p == y) for p, (_, y) in zip(predicted.tolist(), chunk))
    model.train()
    return correct / len(data)


def main():
    module = sys.argv[1] if len(sys.argv) > 1 else "rnn"
    torch.manual_seed(0)
    threads = int(os.environ.get("TRAIN_THREADS", "2"))
    torch.set_num_threads(threads)
    train, valid = split(read_words(), per_language=60000, held_out=1000, seed=0)
    model = Classifier(module)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    start, step, epoch = time.process_time(), 0, 0
    wall_start = time.time()
    while time.process_time() - start < SECONDS:
        epoch += 1
        for i in range(0, len(train), 128):
            batch = train[i:i + 128]
            x, lengths = one_hot([w for w, _ in batch], len(VOCAB))
            loss = loss_fn(model(x, lengths), torch.tensor([y for _, y in batch]))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for group in optimizer.param_groups:  # linear decay over the time budget
                group["lr"] = 3e-3 * max(0.05, 1 - (time.process_time() - start) / SECONDS)
            optimizer.step()
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.3f} cpu {time.process_time() - start:.0f}s "
                      f"wall {time.time() - wall_start:.0f}s", flush=True)
            if time.process_time() - start > SECONDS:
                break
    wall_seconds = time.time() - wall_start
    # The file stores float16 (a quarter of the LSTM's 2.3 MB float32): round the weights first, so the
    # accuracy and the check probabilities below are those of exactly the weights the app loads.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    valid_accuracy = accuracy(model, valid)
    print(f"{module}: validation accuracy {valid_accuracy:.4f} ({len(valid)} held-out words), "
          f"{step} steps, {epoch} epochs", flush=True)

    model.eval()
    with torch.no_grad():
        x, lengths = one_hot(CHECK_WORDS, len(VOCAB))
        probabilities = torch.softmax(model(x, lengths), dim=1)
    os.makedirs(OUT, exist_ok=True)
    tensors = {f"rnn.{k}": v for k, v in model.rnn.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    config = {"inputSize": len(VOCAB), "hiddenSize": HIDDEN, "numLayers": 2, "bidirectional": True}
    if module == "rnn":
        config["nonlinearity"] = "tanh"
    file_name = "language-classifier" + ("" if module == "rnn" else f"-{module}")
    write_safetensors(os.path.join(OUT, f"{file_name}.safetensors"), tensors, dtype="F16")
    write_json(os.path.join(OUT, f"{file_name}.json"), {
        "generated": f"by apps/demo/training/train_classifier.py {module}; do not edit",
        "task": "classify",
        "module": module,
        "rnn": config,
        "vocab": VOCAB,
        "labels": [name for name, _ in LANGUAGES],
        "validationAccuracy": round(valid_accuracy, 4),
        "heldOutWords": len(valid),
        "training": {"cpuSeconds": SECONDS, "wallSeconds": round(wall_seconds), "threads": threads, "steps": step, "epochs": epoch,
                     "wordsPerLanguage": 60000, "batch": 128, "torch": torch.__version__},
        "checks": [{"word": w, "probabilities": [round(p, 7) for p in row]}
                   for w, row in zip(CHECK_WORDS, probabilities.tolist())],
    })


if __name__ == "__main__":
    main()
