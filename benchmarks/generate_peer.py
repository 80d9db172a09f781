#!/usr/bin/python3
"""The PyTorch peer of `t5scale generate --bench`: greedy decoding WITH a key/value cache, in eager fp32.

The model is tests/reference/t5_reference.py's T5Reference (the parity tests' reference) with the
weights of an exported model directory (t5_reference.load_hf_dir: config.json + model.safetensors).
The decode is what transformers' greedy generate does for T5 with use_cache: the encoder once;
every decoder layer's cross-attention keys and values once from its output; then one position per
step: self-attention keys and values appended to a per-layer cache (torch.cat, as HF's cache), the
causal relative bias row of the step (precomputed for all steps), cross-attention over the padded
encoder output with its padding masked, the feed-forward, the tied dm^-0.5 head (or lm_head) and the
argmax. Rows that produced EOS continue with padding as HF does, unless --ignore-eos (the benchmark:
every row runs --max-new-tokens steps, as `t5scale generate --ignore-eos`).

    /usr/bin/python3 benchmarks/generate_peer.py --model-dir W --inputs in.jsonl --max-new-tokens 32 \
        --batch 32 --threads 2 --repeats 3 --ignore-eos [--json]
Times a whole decode of the inputs (encoder included) after one warm-up decode; reports the median and
generated tokens / second, and the output ids of the last decode.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import t5_reference as ref  # noqa: E402
from peer_pytorch import aten_cpu_capability, loaded_openblas  # noqa: E402

EOS, PAD, START = 1, 0, 0


class CachedGreedy:
    def __init__(self, c, params):
        self.c, self.p = c, params
        self.model = ref.T5Reference(c, params)
        self.nh, self.kv, self.eps = c["num_heads"], c["d_kv"], 1e-6

    def heads(self, t):
        B = t.shape[0]
        return t.view(B, -1, self.nh, self.kv).transpose(1, 2)

    def merge(self, t):
        B = t.shape[0]
        return t.transpose(1, 2).reshape(B, -1, self.nh * self.kv)

    def encode(self, input_ids, attention_mask):
        p, c = self.p, self.c
        neg = torch.finfo(torch.float32).min
        keys = (1.0 - attention_mask[:, None, None, :].float()) * neg
        bias = self.model.bias("encoder", input_ids.shape[1], input_ids.shape[1], True) + keys
        x = p["shared.weight"][input_ids]
        for i in range(c["num_layers"]):
            b = f"encoder.block.{i}.layer."
            n = ref.rms_norm(x, p[b + "0.layer_norm.weight"], self.eps)
            x = x + self.model.attention(b + "0.SelfAttention", n, n, bias)
            x = x + self.model.feed_forward(b + "1.DenseReluDense", ref.rms_norm(x, p[b + "1.layer_norm.weight"], self.eps))
        return ref.rms_norm(x, p["encoder.final_layer_norm.weight"], self.eps), keys

    def attend(self, q, k, v, bias):
        return self.merge(torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1) @ v)

    def generate(self, input_ids, attention_mask, max_new_tokens, ignore_eos):
        p, c = self.p, self.c
        B = input_ids.shape[0]
        enc, cross_bias = self.encode(input_ids, attention_mask)
        cross = []
        for i in range(c["num_decoder_layers"]):
            a = f"decoder.block.{i}.layer.1.EncDecAttention."
            cross.append((self.heads(enc @ p[a + "k.weight"].T), self.heads(enc @ p[a + "v.weight"].T)))
        self_bias = self.model.bias("decoder", max_new_tokens, max_new_tokens, False)  # [1, nh, T, T]
        cache = [None] * c["num_decoder_layers"]
        token = torch.full((B,), START, dtype=torch.long)
        out = []
        unfinished = torch.ones(B, dtype=torch.bool)
        scale = c["d_model"] ** -0.5
        for t in range(max_new_tokens):
            y = p["shared.weight"][token][:, None, :]
            for i in range(c["num_decoder_layers"]):
                b = f"decoder.block.{i}.layer."
                a = b + "0.SelfAttention."
                n = ref.rms_norm(y, p[b + "0.layer_norm.weight"], self.eps)
                q, k, v = (self.heads(n @ p[a + m + ".weight"].T) for m in "qkv")
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)
                cache[i] = (k, v)
                y = y + self.attend(q, k, v, self_bias[:, :, t:t + 1, :t + 1]) @ p[a + "o.weight"].T
                a = b + "1.EncDecAttention."
                n = ref.rms_norm(y, p[b + "1.layer_norm.weight"], self.eps)
                q = self.heads(n @ p[a + "q.weight"].T)
                y = y + self.attend(q, cross[i][0], cross[i][1], cross_bias) @ p[a + "o.weight"].T
                y = y + self.model.feed_forward(b + "2.DenseReluDense",
                                                ref.rms_norm(y, p[b + "2.layer_norm.weight"], self.eps))
            h = ref.rms_norm(y[:, 0], p["decoder.final_layer_norm.weight"], self.eps)
            logits = (h * scale) @ p["shared.weight"].T if c["tie_word_embeddings"] else h @ p["lm_head.weight"].T
            token = logits.argmax(-1)
            if not ignore_eos:
                token = torch.where(unfinished, token, torch.full_like(token, PAD))
            out.append(token)
            if not ignore_eos:
                unfinished &= token != EOS
                if not unfinished.any():
                    break
        ids = torch.stack(out, 1).tolist()
        if ignore_eos:
            return ids
        trimmed = []
        for row in ids:  # up to and including the first EOS
            trimmed.append(row[:row.index(EOS) + 1] if EOS in row else row)
        return trimmed


def decode_all(g, inputs, batch, max_new_tokens, ignore_eos):
    out = []
    for b0 in range(0, len(inputs), batch):
        chunk = inputs[b0:b0 + batch]
        Le = max(len(x) for x in chunk)
        ids = torch.tensor([x + [PAD] * (Le - len(x)) for x in chunk])
        mask = torch.tensor([[1] * len(x) + [0] * (Le - len(x)) for x in chunk])
        out.extend(g.generate(ids, mask, max_new_tokens, ignore_eos))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--inputs", required=True, help='JSON Lines of {"input_ids": [...]}')
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ignore-eos", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    c, params = ref.load_hf_dir(args.model_dir)
    inputs = [json.loads(line)["input_ids"] for line in open(args.inputs)]
    g = CachedGreedy(c, params)
    with torch.inference_mode():
        outputs = decode_all(g, inputs, args.batch, args.max_new_tokens, args.ignore_eos)  # warm-up
        times, cpu_times = [], []
        for r in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            outputs = decode_all(g, inputs, args.batch, args.max_new_tokens, args.ignore_eos)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            print(f"peer generate {r + 1}/{args.repeats}: {times[-1]:.3f} s", file=sys.stderr)
    seconds = statistics.median(times)
    tokens = sum(len(o) for o in outputs)
    openblas_config, openblas_corename = loaded_openblas()
    result = {"implementation": "pytorch-eager-kv-cache", "torch": torch.__version__,
              "threads": torch.get_num_threads(), "openblas_corename": openblas_corename,
              "openblas_config": openblas_config, "aten_cpu_capability": aten_cpu_capability(),
              "examples": len(inputs), "generated_tokens": tokens, "max_new_tokens": args.max_new_tokens,
              "batch": args.batch, "ignore_eos": args.ignore_eos, "seconds": seconds, "seconds_all": times,
              "cpu_seconds_all": cpu_times,
              "tokens_per_second": tokens / seconds, "output_ids": outputs}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"peer generate: {len(inputs)} inputs, {tokens} generated tokens, threads {result['threads']}: "
              f"{seconds:.3f} s median of {args.repeats}, {tokens / seconds:.0f} generated tokens/s")


if __name__ == "__main__":
    main()
