#!/usr/bin/python3
"""Reference T5 in plain PyTorch, written from Hugging Face's modeling_t5 semantics
(T5ForConditionalGeneration: T5LayerNorm, T5Attention with relative position buckets, T5DenseActDense,
T5DenseGatedActDense with gelu_new, tied-output dm^-0.5 scale, CrossEntropyLoss(ignore_index=-100),
_shift_right for decoder inputs). transformers itself is not needed.

It dumps the parity fixtures the C++ tests read (tests/model_test.cpp, tests/cmd_loss_test.cpp,
tests/hf_interop_test.cpp): for each small config the weights, a ragged-padded batch in HF form, logits,
loss, z-loss and every gradient (of loss and of loss + z-loss); a packed batch (segment ids, Mesh TF
masking) and an HF batch with zeros inside attention_mask / decoder_attention_mask, each with loss and
every gradient; and the weights as torch writes T5ForConditionalGeneration.state_dict() to safetensors.
Computation runs in float64 from float32 weights, so the fixtures are the exact answer that our float32
model is measured against. With --check-hf it instead loads exported model directories strictly, as
transformers would, and prints their loss on a batch.

Two structural flags beyond Hugging Face's T5, extended here the same way as core/param_table.cpp and
core/model.cpp (the config keys "shared_kv" and "shared_heads", t5scale's own):
- shared_kv (`skv`, Mesh TensorFlow's SelfAttention/AttentionParams shared_kv in
  mesh_tensorflow/transformer/attention.py and transformer_layers.py): one projection "<prefix>.kv.weight"
  [inner, dm] replaces k and v, and its output is used as both keys and values.
- shared_heads (`sh` of the t5-efficient model cards, "attention heads are shared"): every block of a
  stack uses block 0's q, k/v (or kv) and o of the same attention kind; only block 0 holds them. This
  reading of `sh` and its evidence are in README ("sh: what it means here").
Autograd differentiates through the reuse, so the gradients of every use add up in the one tensor.

Regenerate (from the repository root; needs Debian's python3-torch):
    /usr/bin/python3 tests/reference/t5_reference.py --out tests/fixtures/model

Format per config NAME: NAME.json = {"config": HF config.json keys, "batch": {input_ids, attention_mask,
labels}, "z_loss_coef", "loss", "z_loss", "label_tokens", "packed_batch", "packed_loss",
"packed_label_tokens", "masked_batch", "masked_loss", "masked_label_tokens",
"tensors": {key: {"shape", "offset"}}} and NAME.bin = little-endian float32 values; tensor keys are
"param/<HF name>", "grad/<HF name>" (d loss), "grad_z/<HF name>" (d (loss + z_loss)),
"packed_grad/<HF name>", "masked_grad/<HF name>" and "logits" [B, Ld, V]. NAME.safetensors holds the
state dict (with the tied copies; see tests/fixtures/README.md).
"""
import argparse
import json
import math
import os

import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_check  # noqa: E402  (the hand-written safetensors reader/writer beside this file)

CONFIGS = {
    # ReLU, tied embeddings (T5 v1.0 style); log buckets exercised by few buckets / short distance.
    "relu_tied": dict(d_model=32, d_kv=8, num_heads=3, d_ff=40, num_layers=2, num_decoder_layers=3,
                      vocab_size=96, feed_forward_proj="relu", tie_word_embeddings=True,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16),
    # gated-GELU, untied lm_head (T5 v1.1 style).
    "gated_untied": dict(d_model=24, d_kv=8, num_heads=2, d_ff=36, num_layers=3, num_decoder_layers=2,
                         vocab_size=80, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                         relative_attention_num_buckets=16, relative_attention_max_distance=20),
    # skv: relu_tied's structure with k and v tied (seed 1236; the two above keep theirs byte for byte).
    "skv": dict(d_model=32, d_kv=8, num_heads=3, d_ff=40, num_layers=2, num_decoder_layers=3,
                vocab_size=96, feed_forward_proj="relu", tie_word_embeddings=True,
                relative_attention_num_buckets=8, relative_attention_max_distance=16, shared_kv=True),
    # sh: gated_untied's structure with each stack's attention projections shared across its layers.
    "sh": dict(d_model=24, d_kv=8, num_heads=2, d_ff=36, num_layers=3, num_decoder_layers=2,
               vocab_size=80, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
               relative_attention_num_buckets=16, relative_attention_max_distance=20, shared_heads=True),
    # both flags together, deeper stacks so sharing spans three layers each.
    "sh_skv": dict(d_model=16, d_kv=4, num_heads=3, d_ff=20, num_layers=3, num_decoder_layers=3,
                   vocab_size=64, feed_forward_proj="relu", tie_word_embeddings=True,
                   relative_attention_num_buckets=8, relative_attention_max_distance=16, shared_kv=True,
                   shared_heads=True),
}
Z_LOSS_COEF = 0.01  # larger than Mesh TF's 1e-4 so the z-loss gradient is clearly visible in tests


def relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """HF T5Attention._relative_position_bucket (float32 log, truncation)."""
    ret = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        ret += (relative_position > 0).long() * num_buckets
        n = relative_position.abs()
    else:
        n = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class T5Reference:
    def __init__(self, cfg, params):
        self.c, self.p = cfg, params

    def bias(self, stack, lq, lk, bidirectional):
        pos = torch.arange(lk)[None, :] - torch.arange(lq)[:, None]  # key − query
        b = relative_position_bucket(pos, bidirectional, self.c["relative_attention_num_buckets"],
                                     self.c["relative_attention_max_distance"])
        table = self.p[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[b].permute(2, 0, 1)[None]  # [1, nh, lq, lk]

    def attention(self, prefix, x, src, bias):
        nh, kv = self.c["num_heads"], self.c["d_kv"]
        B = x.shape[0]
        prefix = projection_prefix(self.c, prefix)

        def heads(t):
            return t.view(B, -1, nh, kv).transpose(1, 2)
        q = heads(x @ self.p[prefix + ".q.weight"].T)
        if self.c.get("shared_kv"):
            k = v = heads(src @ self.p[prefix + ".kv.weight"].T)  # Mesh TF: k = kv; v = kv
        else:
            k = heads(src @ self.p[prefix + ".k.weight"].T)
            v = heads(src @ self.p[prefix + ".v.weight"].T)
        scores = q @ k.transpose(-1, -2) + bias  # no 1/sqrt(d_kv)
        ctx = torch.softmax(scores, dim=-1) @ v
        return ctx.transpose(1, 2).reshape(B, -1, nh * kv) @ self.p[prefix + ".o.weight"].T

    def feed_forward(self, prefix, x):
        p = self.p
        if self.c["feed_forward_proj"] == "gated-gelu":
            h = gelu_new(x @ p[prefix + ".wi_0.weight"].T) * (x @ p[prefix + ".wi_1.weight"].T)
        else:
            h = torch.relu(x @ p[prefix + ".wi.weight"].T)
        return h @ p[prefix + ".wo.weight"].T

    def forward(self, input_ids, decoder_input_ids, enc_visible, dec_visible, cross_visible):
        """Logits [B, Ld, V]; *_visible are boolean [B, 1, Lq, Lk] (or broadcastable) key masks."""
        c, p, eps = self.c, self.p, 1e-6
        dtype = p["shared.weight"].dtype
        neg = torch.finfo(dtype).min

        def additive(visible):
            return (1.0 - visible.to(dtype)) * neg
        Le, Ld = input_ids.shape[1], decoder_input_ids.shape[1]
        cross_bias = additive(cross_visible)
        enc_bias = self.bias("encoder", Le, Le, True) + additive(enc_visible)
        x = p["shared.weight"][input_ids]
        for i in range(c["num_layers"]):
            b = f"encoder.block.{i}.layer."
            n = rms_norm(x, p[b + "0.layer_norm.weight"], eps)
            x = x + self.attention(b + "0.SelfAttention", n, n, enc_bias)
            x = x + self.feed_forward(b + "1.DenseReluDense", rms_norm(x, p[b + "1.layer_norm.weight"], eps))
        enc = rms_norm(x, p["encoder.final_layer_norm.weight"], eps)
        dec_bias = self.bias("decoder", Ld, Ld, False) + additive(dec_visible)
        y = p["shared.weight"][decoder_input_ids]
        for i in range(c["num_decoder_layers"]):
            b = f"decoder.block.{i}.layer."
            n = rms_norm(y, p[b + "0.layer_norm.weight"], eps)
            y = y + self.attention(b + "0.SelfAttention", n, n, dec_bias)
            y = y + self.attention(b + "1.EncDecAttention", rms_norm(y, p[b + "1.layer_norm.weight"], eps), enc,
                                   cross_bias)
            y = y + self.feed_forward(b + "2.DenseReluDense", rms_norm(y, p[b + "2.layer_norm.weight"], eps))
        h = rms_norm(y, p["decoder.final_layer_norm.weight"], eps)
        if c["tie_word_embeddings"]:
            return (h * c["d_model"] ** -0.5) @ p["shared.weight"].T
        return h @ p["lm_head.weight"].T


def hf_masks(attention_mask, Ld, decoder_attention_mask=None):
    """HF T5ForConditionalGeneration: padding keys hidden in encoder self- and cross-attention; decoder
    self-attention causal and, given decoder_attention_mask, hiding its zero keys too."""
    keys = attention_mask[:, None, None, :].bool()
    causal = torch.tril(torch.ones(Ld, Ld, dtype=torch.bool))[None, None]
    if decoder_attention_mask is not None:
        causal = causal & decoder_attention_mask[:, None, None, :].bool()
    return keys, causal, keys


def segment_masks(enc_seg, dec_seg):
    """Packed examples (Mesh TF): attention only between equal segment ids (padding is segment 0),
    decoder self-attention also causal."""
    Ld = dec_seg.shape[1]
    causal = torch.tril(torch.ones(Ld, Ld, dtype=torch.bool))[None]
    same = lambda a, b: (a[:, :, None] == b[:, None, :])
    return same(enc_seg, enc_seg)[:, None], (same(dec_seg, dec_seg) & causal)[:, None], same(dec_seg, enc_seg)[:, None]


def shift_right(labels):
    """HF T5PreTrainedModel._shift_right with decoder_start_token_id = pad_token_id = 0."""
    shifted = torch.zeros_like(labels)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, 0)


def projection_prefix(c, prefix):
    """Where an attention's projections live: with shared_heads, in block 0 of the same stack."""
    if not c.get("shared_heads"):
        return prefix
    stack, _, i, rest = prefix.split(".", 3)  # "<stack>.block.<i>.layer.<n>.<Kind>"
    return f"{stack}.block.0.{rest}"


def param_list(c):
    """HF names and shapes in HF order (the same order as core/param_table.cpp)."""
    dm, inner, ff, V, nb, nh = (c["d_model"], c["d_kv"] * c["num_heads"], c["d_ff"], c["vocab_size"],
                                c["relative_attention_num_buckets"], c["num_heads"])
    gated = c["feed_forward_proj"] == "gated-gelu"
    out = [("shared.weight", [V, dm])]

    def attn(prefix, with_bias):
        if projection_prefix(c, prefix) == prefix:
            kinds = ["q", "kv"] if c.get("shared_kv") else ["q", "k", "v"]
            out.extend([(prefix + f".{m}.weight", [inner, dm]) for m in kinds] + [(prefix + ".o.weight", [dm, inner])])
        if with_bias:
            out.append((prefix + ".relative_attention_bias.weight", [nb, nh]))

    def ff_(prefix):
        wis = ["wi_0", "wi_1"] if gated else ["wi"]
        out.extend([(prefix + f".DenseReluDense.{w}.weight", [ff, dm]) for w in wis])
        out.append((prefix + ".DenseReluDense.wo.weight", [dm, ff]))

    for stack, layers in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        for i in range(layers):
            b = f"{stack}.block.{i}.layer."
            attn(b + "0.SelfAttention", i == 0)
            out.append((b + "0.layer_norm.weight", [dm]))
            if stack == "decoder":
                attn(b + "1.EncDecAttention", False)
                out.append((b + "1.layer_norm.weight", [dm]))
            f = b + ("2" if stack == "decoder" else "1")
            ff_(f)
            out.append((f + ".layer_norm.weight", [dm]))
        out.append((f"{stack}.final_layer_norm.weight", [dm]))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", [V, dm]))
    return out


def make_params(c, gen):
    """Random float32 weights: init-like scales, but norms and biases away from 1/0 so they matter."""
    params = {}
    for name, shape in param_list(c):
        if name.endswith("layer_norm.weight"):
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif "relative_attention_bias" in name:
            t = 0.5 * torch.randn(shape, generator=gen)
        elif name == "shared.weight":
            t = torch.randn(shape, generator=gen)
        else:
            t = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        params[name] = t.float()
    return params


def make_batch(c, gen):
    """Three rows, encoder length 9 and decoder length 7, ragged padding and a −100 mid-row."""
    V, B, Le, Ld = c["vocab_size"], 3, 9, 7
    input_ids = torch.randint(3, V, (B, Le), generator=gen)
    enc_len = [9, 5, 7]
    attention_mask = torch.zeros(B, Le, dtype=torch.long)
    for r, n in enumerate(enc_len):
        attention_mask[r, :n] = 1
        input_ids[r, n:] = 0
        input_ids[r, n - 1] = 1  # eos
    labels = torch.randint(3, V, (B, Ld), generator=gen)
    for r, n in enumerate([7, 4, 6]):
        labels[r, n:] = -100
        labels[r, n - 1] = 1
    labels[2, 2] = -100  # ignored label inside a row
    return input_ids, attention_mask, labels


def make_packed_batch(c, gen):
    """Two rows of packed examples (Mesh TF): segment ids 1, 2, ... per example and 0 for padding;
    decoder inputs restart with start id 0 at every segment. Row 0 ends in padding whose label is the
    pad id 0 (ignored: segment 0), row 1 has none."""
    V = c["vocab_size"]
    enc_seg = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 3, 3, 0], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]])
    dec_seg = torch.tensor([[1, 1, 1, 2, 2, 3, 3, 0], [1, 1, 1, 1, 2, 2, 2, 2]])
    input_ids = torch.randint(3, V, enc_seg.shape, generator=gen) * (enc_seg > 0)
    labels = torch.randint(3, V, dec_seg.shape, generator=gen) * (dec_seg > 0)
    decoder_input_ids = torch.zeros_like(labels)
    decoder_input_ids[:, 1:] = labels[:, :-1]
    decoder_input_ids[:, 1:] *= (dec_seg[:, 1:] == dec_seg[:, :-1])  # segment start → 0
    return {"input_ids": input_ids, "encoder_segment_ids": enc_seg, "decoder_input_ids": decoder_input_ids,
            "decoder_segment_ids": dec_seg, "labels": labels}


def make_masked_batch(c, gen):
    """HF form with zeros inside the masks: attention_mask hides a middle input token, and
    decoder_attention_mask hides decoder positions (labels −100 there) in the middle and at the end."""
    V = c["vocab_size"]
    attention_mask = torch.tensor([[1, 1, 0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1]])
    decoder_attention_mask = torch.tensor([[1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 0]])
    input_ids = torch.randint(3, V, attention_mask.shape, generator=gen)
    labels = torch.randint(3, V, decoder_attention_mask.shape, generator=gen).masked_fill(
        decoder_attention_mask == 0, -100)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
            "decoder_attention_mask": decoder_attention_mask}


def hf_state_dict(c, params32, gen):
    """The tensors of T5ForConditionalGeneration.state_dict() in its order: the tied copies
    encoder/decoder.embed_tokens.weight (and lm_head.weight when tied) and, for a tied config, the
    stray decoder cross-attention bias table of older transformers versions (SPEC §5 import rules)."""
    out = {}
    for name, t in params32.items():
        if name == "encoder.block.0.layer.0.SelfAttention.q.weight":
            out["encoder.embed_tokens.weight"] = params32["shared.weight"]
        if name == "decoder.block.0.layer.0.SelfAttention.q.weight":
            out["decoder.embed_tokens.weight"] = params32["shared.weight"]
        out[name] = t
        if name == "decoder.block.0.layer.1.EncDecAttention.o.weight" and c["tie_word_embeddings"]:
            stray = torch.randn(c["relative_attention_num_buckets"], c["num_heads"], generator=gen)
            out["decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"] = stray
    if c["tie_word_embeddings"]:
        out["lm_head.weight"] = params32["shared.weight"]
    return out


def loss_and_grads(c, params, input_ids, decoder_input_ids, masks, labels, keep):
    """Mean CE over `keep`, the z-loss, and the gradients of loss and of loss + z-loss."""
    logits = T5Reference(c, params).forward(input_ids, decoder_input_ids, *masks)
    flat_logits = logits.reshape(-1, c["vocab_size"])
    keep = keep.reshape(-1)
    loss = torch.nn.functional.cross_entropy(flat_logits[keep], labels.reshape(-1)[keep])
    z_loss = Z_LOSS_COEF * (torch.logsumexp(flat_logits[keep], dim=-1) ** 2).mean()
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
    grads_z = torch.autograd.grad(loss + z_loss, list(params.values()))
    return logits, loss, z_loss, grads, grads_z, int(keep.sum())


def run(name, c, out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    params32 = make_params(c, gen)
    input_ids, attention_mask, labels = make_batch(c, gen)
    packed = make_packed_batch(c, gen)
    masked = make_masked_batch(c, gen)
    params = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    logits, loss, z_loss, grads, grads_z, tokens = loss_and_grads(
        c, params, input_ids, shift_right(labels), hf_masks(attention_mask, labels.shape[1]), labels, labels != -100)
    _, p_loss, _, p_grads, _, p_tokens = loss_and_grads(
        c, params, packed["input_ids"], packed["decoder_input_ids"],
        segment_masks(packed["encoder_segment_ids"], packed["decoder_segment_ids"]), packed["labels"],
        packed["decoder_segment_ids"] != 0)
    _, m_loss, _, m_grads, _, m_tokens = loss_and_grads(
        c, params, masked["input_ids"], shift_right(masked["labels"]),
        hf_masks(masked["attention_mask"], masked["labels"].shape[1], masked["decoder_attention_mask"]),
        masked["labels"], masked["labels"] != -100)

    tensors, chunks, offset = {}, [], 0

    def add(key, t):
        nonlocal offset
        t = t.detach().float().contiguous()
        tensors[key] = {"shape": list(t.shape), "offset": offset}
        chunks.append(t.reshape(-1))
        offset += t.numel()
    for (n, t), g, gz, gp, gm in zip(params32.items(), grads, grads_z, p_grads, m_grads):
        add("param/" + n, t)
        add("grad/" + n, g)
        add("grad_z/" + n, gz)
        add("packed_grad/" + n, gp)
        add("masked_grad/" + n, gm)
    add("logits", logits)
    config = hf_config(c)
    meta = {
        "generator": "tests/reference/t5_reference.py", "torch": torch.__version__, "seed": seed,
        "config": config,
        "batch": {"input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist(),
                  "labels": labels.tolist()},
        "z_loss_coef": Z_LOSS_COEF, "loss": loss.item(), "z_loss": z_loss.item(),
        "label_tokens": tokens,
        "packed_batch": {k: v.tolist() for k, v in packed.items()},
        "packed_loss": p_loss.item(), "packed_label_tokens": p_tokens,
        "masked_batch": {k: v.tolist() for k, v in masked.items()},
        "masked_loss": m_loss.item(), "masked_label_tokens": m_tokens,
        "tensors": tensors,
    }
    data = torch.cat(chunks).numpy().astype("<f4").tobytes()
    with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    # transformers' T5 cannot hold the sharing configs: theirs is the t5scale layout (the table's tensors).
    state = params32 if (c.get("shared_kv") or c.get("shared_heads")) else hf_state_dict(c, params32, gen)
    safetensors_check.write(os.path.join(out_dir, name + ".safetensors"), {k: ("F32", v) for k, v in state.items()})
    print(f"{name}: loss {loss.item():.8f} z_loss {z_loss.item():.8f} tokens {tokens} packed loss "
          f"{p_loss.item():.8f} tokens {p_tokens} masked loss {m_loss.item():.8f} tokens {m_tokens}; floats {offset} ({len(data)} bytes)")


def hf_config(c):
    return dict(c, model_type="t5", layer_norm_epsilon=1e-6, dropout_rate=0.0, decoder_start_token_id=0,
                pad_token_id=0, eos_token_id=1, is_encoder_decoder=True)


def load_hf_dir(model_dir):
    """What T5ForConditionalGeneration.from_pretrained(model_dir) accepts, checked strictly: config.json
    keys, then model.safetensors names and shapes against the state dict (missing: only the tied
    copies transformers fills from shared.weight; unexpected: none but the keys T5 ignores)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    for flag in ("shared_kv", "shared_heads"):
        if cfg.get(flag):
            raise ValueError(f"{model_dir}: config.json: {flag} is t5scale's own key; transformers' T5 cannot "
                             "express it (it would ignore the key and leave the tied tensors' copies random)")
    problems = [f"config.json: {k} is {cfg.get(k)!r}" for k, v in
                (("model_type", "t5"), ("is_encoder_decoder", True), ("decoder_start_token_id", 0),
                 ("pad_token_id", 0)) if cfg.get(k) != v]
    c = {k: cfg[k] for k in CONFIGS["relu_tied"]}
    if c["feed_forward_proj"] not in ("relu", "gated-gelu"):
        problems.append(f"config.json: feed_forward_proj {c['feed_forward_proj']!r}")
    tensors, meta = safetensors_check.read(os.path.join(model_dir, "model.safetensors"))
    if meta.get("format") != "pt":
        problems.append(f"model.safetensors: metadata {meta} (transformers needs format pt)")
    expected = dict(param_list(c))
    # T5's _keys_to_ignore_on_load_unexpected (an old cross-attention bias table) and the tied copies.
    ignored = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
               "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}
    if c["tie_word_embeddings"]:
        ignored.add("lm_head.weight")
    for name in tensors:
        if name not in expected and name not in ignored:
            problems.append(f"unexpected key {name}")
    for name, shape in expected.items():
        if name not in tensors:
            problems.append(f"missing key {name}")
        elif list(tensors[name][1].shape) != shape:
            problems.append(f"{name}: shape {list(tensors[name][1].shape)} != {shape}")
    if problems:
        raise ValueError(f"{model_dir}: " + "; ".join(problems))
    return c, {n: tensors[n][1].float() for n in expected}


def check_hf(model_dir, batch_path):
    """Loads an exported model as transformers would; its HF-semantics loss on a batch."""
    c, params32 = load_hf_dir(model_dir)
    b = json.load(open(batch_path))
    input_ids, labels = torch.tensor(b["input_ids"]), torch.tensor(b["labels"])
    attention_mask = torch.tensor(b.get("attention_mask", torch.ones_like(input_ids).tolist()))
    params = {k: v.double() for k, v in params32.items()}
    with torch.no_grad():
        logits = T5Reference(c, params).forward(input_ids, shift_right(labels),
                                                *hf_masks(attention_mask, labels.shape[1]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, c["vocab_size"]), labels.reshape(-1),
                                                 ignore_index=-100)
    return {"loss": loss.item(), "label_tokens": int((labels != -100).sum())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/model")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", nargs="+", choices=list(CONFIGS), help="write only these configs (same seeds)")
    ap.add_argument("--check-hf", nargs="+", metavar="MODEL_DIR BATCH_JSON",
                    help="pairs: load each exported HF model directory strictly and print its loss on the batch "
                         "as one JSON line ({\"error\": ...} if it does not load; exit 1 then)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check_hf:
        if len(args.check_hf) % 2:
            ap.error("--check-hf takes MODEL_DIR BATCH_JSON pairs")
        failed = False
        for model_dir, batch in zip(args.check_hf[::2], args.check_hf[1::2]):
            try:
                print(json.dumps(check_hf(model_dir, batch)))
            except (ValueError, KeyError, OSError, AssertionError) as e:
                print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
                failed = True
        sys.exit(1 if failed else 0)
    os.makedirs(args.out, exist_ok=True)
    for i, (name, c) in enumerate(CONFIGS.items()):
        if args.only is None or name in args.only:
            run(name, c, args.out, args.seed + i)


if __name__ == "__main__":
    main()
