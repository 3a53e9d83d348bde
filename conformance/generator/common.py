"""What generate.py, gradients.py and trajectories.py share: reading a spec folder, building and running a
module as PyTorch's own, and writing msgpack vectors with their manifest.json. PyTorch is the oracle here too.
"""
import hashlib
import json
import os
import sys

import msgpack
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

MODES = {'rnn': nn.RNN, 'lstm': nn.LSTM, 'gru': nn.GRU}
CELLS = {'rnn': nn.RNNCell, 'lstm': nn.LSTMCell, 'gru': nn.GRUCell}


def spec_files(spec_dir):
    return sorted(name for name in os.listdir(spec_dir) if name.endswith('.json'))


def spec_hash(spec_dir):
    """sha256 over every spec file, in name order: name, NUL, bytes, NUL (src/node.ts specHash does the same)."""
    digest = hashlib.sha256()
    for name in spec_files(spec_dir):
        with open(os.path.join(spec_dir, name), 'rb') as f:
            digest.update(name.encode() + b'\0' + f.read() + b'\0')
    return digest.hexdigest()


def load_cases(spec_dir, expand):
    """Every spec file's cases (expand(name, group) gives a file's), in file order; ids must be unique."""
    cases = []
    for name in spec_files(spec_dir):
        with open(os.path.join(spec_dir, name)) as f:
            cases.extend(expand(name, json.load(f)))
    ids = [c['id'] for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        sys.exit(f'duplicate case ids: {sorted(duplicates)}')
    return cases


def check_module_options(name, case):
    """What only one module may have: a nonlinearity (nn.RNN), proj_size (nn.LSTM, below hidden_size)."""
    if case['mode'] != 'rnn' and case['nonlinearity'] != 'tanh':
        sys.exit(f'{name}: case {case["id"]}: only nn.RNN has a nonlinearity')
    if case['projSize'] and (case['mode'] != 'lstm' or case['projSize'] >= case['hiddenSize']):
        sys.exit(f'{name}: case {case["id"]}: projSize is for nn.LSTM only, and below hiddenSize')


def option_tags(case):
    """The feature tags every vector family gives the options a case sets."""
    tags = []
    for key, tag in [('projSize', 'proj_size'), ('batchFirst', 'batch_first'), ('h0', 'h0'), ('unbatched', 'unbatched')]:
        if case[key]:
            tags.append(tag)
    if not case['bias']:
        tags.append('no-bias')
    if case['lengths'] is not None:
        tags.append('lengths')
    return tags


def module_family(case):
    """What the result tables group by: rnn, lstm, lstm-proj (an LSTM with proj_size), gru, or rnn-cell, lstm-cell, gru-cell."""
    if case.get('cell', False):
        return f"{case['mode']}-cell"
    return 'lstm-proj' if case['projSize'] else case['mode']


def build_module(case, cell=False):
    """The case's nn.RNN, nn.LSTM or nn.GRU (or its cell), initialised by PyTorch from the current seed."""
    mode = case['mode']
    if cell:
        options = dict(bias=case['bias'])
    else:
        options = dict(num_layers=case['numLayers'], bias=case['bias'], batch_first=case['batchFirst'], bidirectional=case['bidirectional'])
    if mode == 'rnn':
        options['nonlinearity'] = case['nonlinearity']
    if case['projSize']:
        options['proj_size'] = case['projSize']
    return (CELLS if cell else MODES)[mode](case['inputSize'], case['hiddenSize'], **options)


def draw_call(case, input_scale, h0_scale):
    """A module's float32 input, and h0 (c0 for an LSTM) drawn when the case gives them, zeros otherwise: drawn in this order."""
    T, I, H, B = case['seqLen'], case['inputSize'], case['hiddenSize'], case['batch']
    H_out = case['projSize'] or H
    batch = () if case['unbatched'] else (B,)
    states = ((2 if case['bidirectional'] else 1) * case['numLayers'],)
    if case['unbatched']:
        x = torch.randn(T, I)
    else:
        x = torch.randn(*((B, T, I) if case['batchFirst'] else (T, B, I)))
    x = (x * input_scale).float()
    h0 = torch.randn(*states, *batch, H_out) * h0_scale if case['h0'] else torch.zeros(*states, *batch, H_out)
    c0 = None
    if case['mode'] == 'lstm':
        c0 = torch.randn(*states, *batch, H) * h0_scale if case['h0'] else torch.zeros(*states, *batch, H)
    return x, h0, c0


def forward(module, x, hx, lengths, batch_first):
    """Output, h_n and c_n (None but for an LSTM); with lengths through pack_padded_sequence / pad_packed_sequence(total_length=T)."""
    if lengths is None:
        out, state = module(x, hx)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1] if batch_first else x.shape[0])
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    return out, h_n, c_n


def doubled(tensors):
    """A map of tensors (or None) in float64, for the reference run."""
    return {k: (None if v is None else v.double()) for k, v in tensors.items()}


def tensor(t, dtype):
    """A tensor as msgpack: shape plus little-endian raw bytes (float32 '<f4' or float64 '<f8')."""
    array = t.detach().cpu().numpy().astype(dtype)
    return {'shape': list(array.shape), 'dtype': 'float32' if dtype == '<f4' else 'float64', 'data': array.tobytes()}


def vector_head(format, version, generated, case, features):
    """The fields every vector file starts with (msgpack keeps this order)."""
    return {'format': format, 'version': version, 'generated': generated, 'torch': torch.__version__, 'id': case['id'], 'why': case['why'],
            'features': features}


def config_record(case, **cell):
    """The module's config as the vectors record it; generate.py adds `cell` after the mode."""
    return {
        'mode': case['mode'], **cell, 'inputSize': case['inputSize'], 'hiddenSize': case['hiddenSize'], 'numLayers': case['numLayers'],
        'nonlinearity': case['nonlinearity'], 'bias': case['bias'], 'batchFirst': case['batchFirst'], 'bidirectional': case['bidirectional'],
        'projSize': case['projSize'],
    }


def backward_call_record(case, x, h0, c0, state_dict, upstream):
    """What a gradient or trajectory vector records of the call: input, the given h0/c0, lengths, the start weights, upstream gradients."""
    return {
        'input': tensor(x, '<f4'),
        'h0': tensor(h0, '<f4') if case['h0'] else None,
        'c0': tensor(c0, '<f4') if case['h0'] and c0 is not None else None,
        'lengths': case['lengths'],
        'stateDict': state_dict,
        'upstream': {name: (None if value is None else tensor(value, '<f4')) for name, value in upstream.items()},
    }


def clear_vectors(vector_dir):
    os.makedirs(vector_dir, exist_ok=True)
    for name in os.listdir(vector_dir):
        if name.endswith('.msgpack'):
            os.remove(os.path.join(vector_dir, name))


def write_vector(vector_dir, case, vector):
    """<id>.msgpack; returns its file name and size."""
    file = f"{case['id']}.msgpack"
    data = msgpack.packb(vector, use_bin_type=True)
    with open(os.path.join(vector_dir, file), 'wb') as f:
        f.write(data)
    return file, len(data)


def write_manifest(vector_dir, spec_dir, format, version, generated, entries):
    manifest = {'_generated': generated, 'format': format, 'version': version, 'specHash': spec_hash(spec_dir), 'torch': torch.__version__,
                'cases': entries}
    with open(os.path.join(vector_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    print(f'{len(entries)} cases, {sum(e["bytes"] for e in entries) / 1e6:.2f} MB, spec {manifest["specHash"][:12]}')


def error_measures(torch_error, magnitude):
    """What generate.py and gradients.py record of a case in the manifest, and say of it while generating."""
    return {'torch32MaxError': torch_error, 'ref64MaxAbs': magnitude}, f'|torch32-ref64| {torch_error:.3e}  max|ref64| {magnitude:.3g}'


def write_vectors(spec_dir, vector_dir, format, version, generated, expand, generate, size_width=9):
    """Every case of spec_dir through generate(case) -> (vector, measures for its manifest entry, a line to print), into vector_dir."""
    torch.set_num_threads(1)
    cases = load_cases(spec_dir, expand)
    clear_vectors(vector_dir)
    entries = []
    for case in cases:
        vector, measures, said = generate(case)
        file, size = write_vector(vector_dir, case, vector)
        entries.append({'id': case['id'], 'file': file, 'module': module_family(case), 'features': vector['features'], 'bytes': size, **measures})
        print(f"{case['id']:48s} {size:>{size_width}d} B  {said}")
    write_manifest(vector_dir, spec_dir, format, version, generated, entries)
