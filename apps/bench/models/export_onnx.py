"""Exports torch.nn.RNN models to ONNX for the ONNX Runtime peers of the benchmark.

Run with Debian's torch:  /usr/bin/python3 apps/bench/models/export_onnx.py
(one model per named config below; or --name N --input-size I --hidden-size H [--num-layers K]
[--bidirectional] [--batch-first] [--nonlinearity relu] [--no-bias] for any other).

export_params=False turns the parameters into graph inputs named like the state dict
(weight_ih_l0, ...), so the files hold no weights (a few KB) and the benchmark feeds the very
weights our engines use. Batch and sequence length are dynamic axes.
"""
import argparse
import json
import os

import torch

# Must match CONFIGS in apps/bench/src/configs.ts (batch and sequence length are dynamic).
NAMED = {
    "tiny": dict(input_size=5, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True),
    "S": dict(input_size=64, hidden_size=64, num_layers=1, bidirectional=False, batch_first=False),
    "M": dict(input_size=256, hidden_size=256, num_layers=2, bidirectional=True, batch_first=True),
    "L": dict(input_size=512, hidden_size=512, num_layers=1, bidirectional=False, batch_first=False),
}


def model_key(c):
    """The file name the benchmark looks for: every field that changes the graph."""
    return "rnn_i{}_h{}_l{}_{}_{}_{}{}".format(
        c["input_size"], c["hidden_size"], c["num_layers"],
        "bi" if c["bidirectional"] else "uni",
        "bf" if c["batch_first"] else "tm",
        c.get("nonlinearity", "tanh"),
        "" if c.get("bias", True) else "_nobias",
    )


def export(c, out_dir):
    c = {"nonlinearity": "tanh", "bias": True, **c}
    rnn = torch.nn.RNN(**c).eval()
    names = list(rnn.state_dict().keys())
    x = torch.zeros((2, 3, c["input_size"]))  # (N, L, I) or (L, N, I): both axes are dynamic anyway
    batch_axis, time_axis = (0, 1) if c["batch_first"] else (1, 0)
    path = os.path.join(out_dir, model_key(c) + ".onnx")
    torch.onnx.export(
        rnn,
        (x,),  # no h0: zeros, as in the benchmark
        path,
        export_params=False,
        input_names=["input"],
        output_names=["output", "hN"],
        dynamic_axes={
            "input": {batch_axis: "batch", time_axis: "seq"},
            "output": {batch_axis: "batch", time_axis: "seq"},
            "hN": {1: "batch"},
        },
        opset_version=14,
    )
    return path, names


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name")
    p.add_argument("--input-size", type=int)
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--batch-first", action="store_true")
    p.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu"])
    p.add_argument("--no-bias", action="store_true")
    p.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()
    if a.input_size is not None:
        configs = {a.name or "custom": dict(input_size=a.input_size, hidden_size=a.hidden_size, num_layers=a.num_layers,
                                            bidirectional=a.bidirectional, batch_first=a.batch_first,
                                            nonlinearity=a.nonlinearity, bias=not a.no_bias)}
    else:
        configs = NAMED
    for name, c in configs.items():
        path, names = export(c, a.out_dir)
        print(json.dumps({"config": name, "file": os.path.basename(path), "torch": torch.__version__, "parameters": names}))


if __name__ == "__main__":
    main()
