"""PyTorch itself as a benchmark peer: the native ceiling, and the reference output of every config.

Started by apps/bench/src/torch.ts with Debian's python3 (python3-torch), once per benchmark run; it
says {"ok": true, "torch": version} when torch is imported, then speaks one JSON object per line on
stdin/stdout:

  {"cmd": "load", "file": F, "mode": "lstm", "config": {...}, "params": [[name, shape, offset], ...],
   "input": [shape, offset], "upstream": [shape, offset] or null, "threads": 1}
      builds nn.RNN / nn.LSTM / nn.GRU(**config), loads the float32 tensors stored at those byte
      offsets of F (load_state_dict(strict=True)) and replies {"ok": true, "torch": version, ...}
  {"cmd": "run", "task": "forward" | "stream" | "train", "output": F or null}
      forward: one forward under torch.no_grad() (h0 = zeros);
      stream: the same, one step at a time (time-major input), each step fed the states of the last;
      train: forward with autograd, then (output * upstream).sum().backward() (gradients zeroed first);
      writes the output's float32 bytes to F if given (train: the input's gradient, then every
      parameter's in the order of "params", back to back); replies {"ok": true, "ms": time in ms}
  {"cmd": "exit"}   (or the end of stdin)

Errors come back as {"ok": false, "error": "..."}. Threads are fixed before torch does any work
(torch.set_num_threads, and OMP_NUM_THREADS set by the caller for OpenBLAS).
"""
import json
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    try:
        import numpy as np
        import torch
    except Exception as error:  # no torch here: the bench reports the row as unavailable with this reason
        reply({"ok": False, "error": "PyTorch cannot be imported: {}: {}".format(type(error).__name__, error)})
        return
    torch.set_grad_enabled(False)
    reply({"ok": True, "torch": torch.__version__})
    module = None
    x = None
    upstream = None
    names = []
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "load":
                threads = int(msg.get("threads", 1))
                torch.set_num_threads(threads)
                blob = np.fromfile(msg["file"], dtype=np.uint8)

                def tensor(shape, offset):
                    count = int(np.prod(shape))
                    return torch.from_numpy(blob[offset:offset + 4 * count].view(np.float32).reshape(shape).copy())

                cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[msg["mode"]]
                module = cls(**msg["config"]).eval()
                module.load_state_dict({name: tensor(shape, offset) for name, shape, offset in msg["params"]}, strict=True)
                x = tensor(*msg["input"])
                upstream = tensor(*msg["upstream"]) if msg.get("upstream") else None
                names = [name for name, _, _ in msg["params"]]
                reply({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
            elif cmd == "run":
                task = msg.get("task", "forward")
                start = time.perf_counter()
                if task == "forward":
                    output = module(x)[0]
                elif task == "stream":
                    hx = None
                    steps = []
                    for t in range(x.shape[0]):
                        y, hx = module(x[t:t + 1], hx)
                        steps.append(y)
                    output = torch.cat(steps)
                elif task == "train":
                    params = dict(module.named_parameters())
                    module.zero_grad(set_to_none=True)
                    x_grad = x.detach().requires_grad_(True)
                    with torch.enable_grad():
                        (module(x_grad)[0] * upstream).sum().backward()
                    output = torch.cat([x_grad.grad.reshape(-1)] + [params[name].grad.reshape(-1) for name in names])
                else:
                    raise ValueError("unknown task {!r}".format(task))
                ms = (time.perf_counter() - start) * 1000
                if msg.get("output"):
                    output.contiguous().numpy().astype(np.float32).tofile(msg["output"])
                reply({"ok": True, "ms": ms})
            elif cmd == "exit":
                return
            else:
                reply({"ok": False, "error": "unknown command {!r}".format(cmd)})
        except Exception as error:
            reply({"ok": False, "error": "{}: {}".format(type(error).__name__, error)})


if __name__ == "__main__":
    main()
