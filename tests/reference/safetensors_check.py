#!/usr/bin/python3
"""Independent safetensors reader/writer in PyTorch for tests/safetensors_interop_test.cpp.

The `safetensors` Python package is not available here, so the format (SPEC.md §5) is parsed by hand:
u64 little-endian header length, JSON header, data tiled exactly by data_offsets. Dtype conversions
are torch's own (float32 -> float16 / bfloat16 round to nearest even), so this checks t5scale's
conversions against PyTorch's.

The reference tensors are a formula both sides compute in float32:
  a       F32  [3, 4]  (arange(12) + 1) / 3
  b       BF16 [5]     -(arange(5) + 1) / 3, rounded to bfloat16
  c       F16  [2, 3]  (arange(6) + 1) / 3 * 1000, rounded to float16
  scalar  F32  []      2.5
  empty   F32  [0, 3]

  check FILE   verify FILE holds exactly the reference tensors (exit 1 with a message otherwise)
  write FILE   write the reference tensors, header in a different order than the data, space padded
Several actions may follow each other on one command line (torch is slow to import):
  safetensors_check.py check OURS write THEIRS
Regenerate the committed fixture:
  /usr/bin/python3 tests/reference/safetensors_check.py write tests/fixtures/safetensors/torch_written.safetensors
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
SIZES = {"F32": 4, "F16": 2, "BF16": 2}


def reference():
    third = lambda n: (torch.arange(n, dtype=torch.float32) + 1) / 3
    return {
        "a": ("F32", third(12).reshape(3, 4)),
        "b": ("BF16", (-third(5)).to(torch.bfloat16)),
        "c": ("F16", (third(6) * 1000).reshape(2, 3).to(torch.float16)),
        "scalar": ("F32", torch.tensor(2.5, dtype=torch.float32)),
        "empty": ("F32", torch.zeros(0, 3, dtype=torch.float32)),
    }


def read(path):
    blob = open(path, "rb").read()
    assert len(blob) >= 8, f"{path}: shorter than 8 bytes"
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), f"{path}: header length {n} beyond file"
    text = blob[8:8 + n].decode("utf-8")
    assert text.startswith("{"), f"{path}: header does not start with {{"
    pairs = json.loads(text, object_pairs_hook=lambda kv: kv)
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), f"{path}: duplicate names"
    header = dict(pairs)
    meta = dict(header.pop("__metadata__", []))
    assert all(isinstance(v, str) for v in meta.values()), f"{path}: non-string metadata"
    data = blob[8 + n:]
    tensors, spans = {}, []
    for name, entry in header.items():
        entry = dict(entry)
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        assert end - begin == numel * SIZES[dtype], f"{path}: {name}: size mismatch"
        spans.append((begin, end, name))
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=DTYPES[dtype]) if numel else torch.zeros(0, dtype=DTYPES[dtype])
        tensors[name] = (dtype, t.reshape(shape))
    position = 0
    for begin, end, name in sorted(spans):
        assert begin == position, f"{path}: {name}: hole or overlap at {begin}"
        position = end
    assert position == len(data), f"{path}: trailing bytes"
    return tensors, meta


def write(path, tensors):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, t) in tensors.items():
        raw = t.contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    # Header keys in reverse data order: readers must not assume they match.
    ordered = {"__metadata__": header["__metadata__"]}
    ordered.update({k: header[k] for k in reversed(list(tensors))})
    text = json.dumps(ordered).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def check(path):
    tensors, meta = read(path)
    want = reference()
    problems = []
    if meta.get("format") != "pt":
        problems.append(f"metadata {meta}")
    if sorted(tensors) != sorted(want):
        problems.append(f"names {sorted(tensors)} != {sorted(want)}")
    for name, (dtype, t) in want.items():
        if name not in tensors:
            continue
        got_dtype, got = tensors[name]
        if got_dtype != dtype or list(got.shape) != list(t.shape) or not torch.equal(got, t):
            problems.append(f"{name}: got {got_dtype} {list(got.shape)} {got.flatten()[:6].tolist()}, "
                            f"want {dtype} {list(t.shape)} {t.flatten()[:6].tolist()}")
    if problems:
        print(f"{path}: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{path}: {len(tensors)} tensors match torch's reference")


if __name__ == "__main__":
    actions = sys.argv[1:]
    if not actions or len(actions) % 2 or any(a not in ("check", "write") for a in actions[::2]):
        sys.exit(__doc__)
    for action, path in zip(actions[::2], actions[1::2]):
        check(path) if action == "check" else write(path, reference())
