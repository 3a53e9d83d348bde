# Exports an nn.LSTM / nn.GRU with given weights to ONNX with PyTorch's own exporter, for the
# onnxruntime-web rows of bench.mjs (which checks ORT's output against ours before timing anything).
#
#   python3 export-onnx.py MODE CONFIG_JSON WEIGHTS.safetensors OUT.onnx
#
# MODE is lstm or gru; CONFIG_JSON our camelCase config. The state dict is read from the safetensors
# file by hand (8-byte header length, JSON header, raw little-endian float32), so only torch and numpy
# are needed (Debian: python3-torch python3-numpy).
import json
import struct
import sys

import numpy as np
import torch

mode, config_json, weights_path, out_path = sys.argv[1:5]
config = json.loads(config_json)
modules = {'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}
model = modules[mode](
    input_size=config['inputSize'],
    hidden_size=config['hiddenSize'],
    num_layers=config.get('numLayers', 1),
    bias=config.get('bias', True),
    batch_first=config.get('batchFirst', False),
    bidirectional=config.get('bidirectional', False),
).eval()

with open(weights_path, 'rb') as f:
    raw = f.read()
(header_bytes,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + header_bytes])
data = raw[8 + header_bytes:]
state = {}
for name, entry in header.items():
    if name == '__metadata__':
        continue
    assert entry['dtype'] == 'F32', (name, entry['dtype'])
    start, end = entry['data_offsets']
    state[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype='<f4').reshape(entry['shape']).copy())
model.load_state_dict(state, strict=True)


class OutputOnly(torch.nn.Module):
    """The benchmark times the whole output sequence; h_n (and c_n) are dropped from the graph's outputs."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


example = torch.zeros(2, 3, config['inputSize'])
torch.onnx.export(
    OutputOnly(model), (example,), out_path,
    input_names=['input'], output_names=['output'],
    dynamic_axes={'input': {0: 'a', 1: 'b'}, 'output': {0: 'a', 1: 'b'}},
    opset_version=14,
)
