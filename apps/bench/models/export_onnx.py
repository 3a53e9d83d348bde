"""Exports torch.nn.RNN, nn.LSTM and nn.GRU models to ONNX for the ONNX Runtime peers of the benchmark.

Run with Debian's torch:  /usr/bin/python3 apps/bench/models/export_onnx.py
(one model per named config below, or only those named by --config NAME; or --mode {rnn,lstm,gru} --input-size I --hidden-size H
[--num-layers K] [--bidirectional] [--batch-first] [--nonlinearity relu] [--no-bias] [--proj-size P] [--state]
for any other).

export_params=False turns the parameters into graph inputs, so the files hold no weights (a few KB)
and the benchmark feeds the very weights our engines use. The exporter folds its reordering of the
weights into those inputs (named like onnx::LSTM_<n>): they take ONNX's layout (gates i,o,f,c for
LSTM, z,r,h for GRU; directions stacked; B = [Wb, Rb]), which apps/bench/src/onnx-graph.ts writes.
Batch and sequence length are dynamic axes.

A streaming model (state=True: the stream-* configs) takes the initial states as graph inputs h0 (and c0)
and returns hN (and cN), so that ONNX Runtime can be fed the state at each call, as its users stream.

A model torch.onnx.export cannot export (an LSTM with proj_size) gets a <name>.export-error.txt
holding the exporter's own error instead, which the benchmark shows as the reason ORT cannot run it.
"""
import argparse
import json
import os

import torch

# Must match CONFIGS in apps/bench/src/configs.ts (batch and sequence length are dynamic).
TINY = dict(input_size=5, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
S = dict(input_size=64, hidden_size=64, num_layers=1, bidirectional=False, batch_first=False)
M = dict(input_size=256, hidden_size=256, num_layers=2, bidirectional=True, batch_first=True)
L = dict(input_size=512, hidden_size=512, num_layers=1, bidirectional=False, batch_first=False)
STREAM = dict(input_size=64, hidden_size=128, num_layers=1, bidirectional=False, batch_first=False)
STREAM_TINY = dict(input_size=5, hidden_size=4, num_layers=1, bidirectional=False, batch_first=False)
NAMED = {
    "tiny": dict(mode="rnn", **TINY),
    "S": dict(mode="rnn", **S),
    "M": dict(mode="rnn", **M),
    "L": dict(mode="rnn", **L),
    "lstm-tiny": dict(mode="lstm", **TINY),
    "gru-tiny": dict(mode="gru", **TINY),
    "lstm-proj-tiny": dict(mode="lstm", proj_size=3, **TINY),
    "lstm-M": dict(mode="lstm", **M),
    "lstm-L": dict(mode="lstm", **L),
    "gru-M": dict(mode="gru", **M),
    "gru-L": dict(mode="gru", **L),
    "lstm-proj-M": dict(mode="lstm", proj_size=128, **M),
    "stream-lstm": dict(mode="lstm", state=True, **STREAM),
    "stream-gru": dict(mode="gru", state=True, **STREAM),
    "stream-lstm-tiny": dict(mode="lstm", state=True, **STREAM_TINY),
    "stream-gru-tiny": dict(mode="gru", state=True, **STREAM_TINY),
}


def model_key(c):
    """The file name the benchmark looks for: every field that changes the graph (onnxModelFile in configs.ts)."""
    return "{}_i{}_h{}_l{}_{}_{}{}{}{}{}".format(
        c["mode"], c["input_size"], c["hidden_size"], c["num_layers"],
        "bi" if c["bidirectional"] else "uni",
        "bf" if c["batch_first"] else "tm",
        "_" + c.get("nonlinearity", "tanh") if c["mode"] == "rnn" else "",
        "" if c.get("bias", True) else "_nobias",
        "_p{}".format(c["proj_size"]) if c.get("proj_size", 0) else "",
        "_state" if c.get("state") else "",
    )


def build(c):
    args = {k: v for k, v in c.items() if k not in ("mode", "state")}
    args.setdefault("bias", True)
    if c["mode"] == "rnn":
        args.setdefault("nonlinearity", "tanh")
        return torch.nn.RNN(**args)
    return (torch.nn.LSTM if c["mode"] == "lstm" else torch.nn.GRU)(**args)


def export(c, out_dir):
    module = build(c).eval()
    names = list(module.state_dict().keys())
    x = torch.zeros((2, 3, c["input_size"]))  # (N, L, I) or (L, N, I): both axes are dynamic anyway
    batch_axis, time_axis = (0, 1) if c["batch_first"] else (1, 0)
    states = ["hN", "cN"] if c["mode"] == "lstm" else ["hN"]
    # With state: the initial states are inputs h0 (c0), shaped (D·layers, batch, H) like hN (cN).
    initial = ["h0", "c0"] if c["mode"] == "lstm" else ["h0"]
    D = 2 if c["bidirectional"] else 1
    zeros = [torch.zeros((D * c["num_layers"], x.shape[batch_axis], c["hidden_size"])) for _ in initial]
    hx = (tuple(zeros) if c["mode"] == "lstm" else zeros[0]) if c.get("state") else None
    path = os.path.join(out_dir, model_key(c) + ".onnx")
    error_path = os.path.join(out_dir, model_key(c) + ".export-error.txt")
    try:
        torch.onnx.export(
            module,
            (x, hx) if hx is not None else (x,),  # no initial states: zeros, as in the forward benchmark
            path,
            export_params=False,
            input_names=["input", *initial] if hx is not None else ["input"],
            output_names=["output", *states],
            dynamic_axes={
                "input": {batch_axis: "batch", time_axis: "seq"},
                "output": {batch_axis: "batch", time_axis: "seq"},
                **{s: {1: "batch"} for s in states + (initial if hx is not None else [])},
            },
            opset_version=14,
        )
    except Exception as error:  # the exporter's own words are the point: keep them for the report
        text = "torch.onnx.export (torch {}) failed: {}: {}".format(torch.__version__, type(error).__name__, str(error).split(" [Caused by")[0].strip())
        with open(error_path, "w") as f:
            f.write(text + "\n")
        if os.path.exists(path):
            os.remove(path)
        return os.path.basename(error_path), names, text
    if os.path.exists(error_path):
        os.remove(error_path)
    return os.path.basename(path), names, None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", help="only this named config (repeatable)")
    p.add_argument("--name")
    p.add_argument("--mode", default="rnn", choices=["rnn", "lstm", "gru"])
    p.add_argument("--input-size", type=int)
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--batch-first", action="store_true")
    p.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"])
    p.add_argument("--no-bias", action="store_true")
    p.add_argument("--proj-size", type=int, default=0)
    p.add_argument("--state", action="store_true", help="h0 (c0) as inputs, for streaming")
    p.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()
    if a.input_size is not None:
        c = dict(mode=a.mode, input_size=a.input_size, hidden_size=a.hidden_size, num_layers=a.num_layers,
                 bidirectional=a.bidirectional, batch_first=a.batch_first, bias=not a.no_bias)
        if a.mode == "rnn":
            c["nonlinearity"] = a.nonlinearity
        if a.proj_size:
            c["proj_size"] = a.proj_size
        if a.state:
            c["state"] = True
        configs = {a.name or "custom": c}
    else:
        configs = {name: NAMED[name] for name in a.config} if a.config else NAMED
    for name, c in configs.items():
        file, names, error = export(c, a.out_dir)
        print(json.dumps({"config": name, "file": file, "torch": torch.__version__, "parameters": names, **({"error": error} if error else {})}))


if __name__ == "__main__":
    main()
