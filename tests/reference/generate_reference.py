#!/usr/bin/python3
"""Reference greedy decoding and beam search for the generation parity tests (tests/generate_test.cpp).

The model is tests/reference/t5_reference.py's T5Reference (HF modeling_t5 semantics) in float64, run
by full recompute of the decoder at every step (no cache). Greedy: argmax of the last position's
logits, until EOS (id 1) or max_new_tokens. Beam search follows transformers' generate with
BeamSearchScorer (>= 4.36; decoder_prompt_len = 1, the decoder start token):
  - beam scores start [0, -1e9, ...]; each step scores = log_softmax(logits) + beam score, the top
    2 * num_beams over num_beams * V are taken in order;
  - an EOS candidate is a finished hypothesis only at rank < num_beams: BeamHypotheses.add(tokens so
    far, score, generated_len = tokens so far + 1), score / generated_len ** length_penalty, keeping the
    num_beams best (worst_score bookkeeping as HF);
  - the first num_beams non-EOS candidates become the next beams;
  - an example is done when num_beams hypotheses exist and early_stopping, or (early_stopping False)
    worst_score >= best candidate score / (t + 1) ** length_penalty;
  - at max_new_tokens the open beams of unfinished examples are added with their generated length;
  - the output is the best hypothesis (sorted by score, pop), EOS appended when it ended with EOS.
Every floating-point comparison that decides a path is recorded as a margin; fixture weights are chosen
(seeded search) so that the smallest margin is far above float32 error, and so that outputs are not
trivial (EOS at different steps in different rows, rows without EOS, beam outputs that differ from
greedy and between the options).

Writes tests/fixtures/generate/NAME/{config.json, model.safetensors, cases.json} for the configs of
t5_reference.CONFIGS. Regenerate from the repository root (Debian's python3-torch):
    /usr/bin/python3 tests/reference/generate_reference.py --out tests/fixtures/generate
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_check  # noqa: E402
import t5_reference as ref  # noqa: E402

EOS, START = 1, 0
MAX_NEW_TOKENS = 12
INPUT_LENGTHS = [7, 3, 12, 1, 9, 5]  # ragged; the length-1 input is EOS alone
BEAM_CASES = [  # (num_beams, length_penalty, early_stopping)
    (3, 1.0, False), (3, 0.6, True), (4, 2.0, False), (4, 0.6, False), (4, 1.0, True), (3, 2.0, True)]
MIN_MARGIN = 2.5e-4  # smallest accepted gap of a deciding comparison (float32 logit error here ~1e-5)


class Margins:
    def __init__(self):
        self.smallest = math.inf

    def note(self, a, b):
        """A comparison of a and b that decides the output. Equal values are skipped: they arise only from
        one expression on one value (the best candidate is the EOS hypothesis just added as the worst),
        which every implementation evaluates to the same number, so the decision does not depend on
        rounding."""
        if a != b:
            self.smallest = min(self.smallest, abs(a - b))


def make_params(c, gen, scale, eos_scale):
    """t5_reference's random weights with the projections scaled by `scale` (peakier attention and
    outputs that depend on the input) and the EOS output row by `eos_scale` (EOS wins sometimes)."""
    params = ref.make_params(c, gen)
    for name, t in params.items():
        if name.endswith(".weight") and "layer_norm" not in name and "relative_attention_bias" not in name \
                and name != "shared.weight":
            params[name] = t * scale
    out = "shared.weight" if c["tie_word_embeddings"] else "lm_head.weight"
    params[out] = params[out].clone()
    params[out][EOS] *= eos_scale
    return params


def make_inputs(c, gen):
    V = c["vocab_size"]
    return [torch.randint(3, V, (n - 1,), generator=gen).tolist() + [EOS] for n in INPUT_LENGTHS]


class Decoder:
    """Last-position logits of a full forward pass (float64) for rows of one example."""

    def __init__(self, c, params):
        self.model = ref.T5Reference(c, {k: v.double() for k, v in params.items()})

    def logits(self, input_ids, prefixes):
        rows = len(prefixes)
        inp = torch.tensor([input_ids] * rows)
        dec = torch.tensor(prefixes)
        masks = ref.hf_masks(torch.ones_like(inp), dec.shape[1])
        with torch.no_grad():
            return self.model.forward(inp, dec, *masks)[:, -1, :]


def greedy(dec, input_ids, max_new_tokens, margins):
    out = [START]
    for _ in range(max_new_tokens):
        logits = dec.logits(input_ids, [out])[0]
        top2 = torch.topk(logits, 2)
        margins.note(top2.values[0].item(), top2.values[1].item())
        token = int(top2.indices[0])
        out.append(token)
        if token == EOS:
            break
    return out[1:]


class BeamHypotheses:
    def __init__(self, num_beams, length_penalty, early_stopping, margins):
        self.num_beams, self.length_penalty, self.early_stopping = num_beams, length_penalty, early_stopping
        self.beams, self.worst_score, self.margins = [], 1e9, margins

    def add(self, tokens, sum_logprobs, generated_len, eos):
        score = sum_logprobs / (generated_len ** self.length_penalty)
        if len(self.beams) >= self.num_beams:
            self.margins.note(score, self.worst_score)
        if len(self.beams) < self.num_beams or score > self.worst_score:
            self.beams.append((score, tokens, eos))
            if len(self.beams) > self.num_beams:
                ranked = sorted([(s, i) for i, (s, _, _) in enumerate(self.beams)])
                self.margins.note(ranked[0][0], ranked[1][0])
                del self.beams[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs, generated_len):
        if len(self.beams) < self.num_beams:
            return False
        if self.early_stopping:
            return True
        highest_attainable = best_sum_logprobs / generated_len ** self.length_penalty
        self.margins.note(self.worst_score, highest_attainable)
        return self.worst_score >= highest_attainable


def beam_search(dec, input_ids, max_new_tokens, num_beams, length_penalty, early_stopping, margins):
    K = num_beams
    hyps = BeamHypotheses(K, length_penalty, early_stopping, margins)
    beams = [[START] for _ in range(K)]
    beam_scores = torch.tensor([0.0] + [-1e9] * (K - 1), dtype=torch.float64)
    done = False
    for t in range(max_new_tokens):
        logits = dec.logits(input_ids, beams)
        V = logits.shape[-1]
        scores = (torch.log_softmax(logits, dim=-1) + beam_scores[:, None]).reshape(-1)
        values, flat = torch.topk(scores, 2 * K + 1)
        margins.note(values[K - 1].item(), values[K].item())  # which EOS candidates rank below num_beams
        next_beams, next_scores = [], []
        for rank, (score, f) in enumerate(zip(values[:2 * K].tolist(), flat[:2 * K].tolist())):
            k, token = f // V, f % V
            if token == EOS:
                if rank >= K:
                    continue
                hyps.add(beams[k][1:], score, t + 1, True)
            else:
                next_beams.append(beams[k] + [token])
                next_scores.append(score)
            if len(next_beams) == K:
                margins.note(score, values[rank + 1].item())  # the last beam taken and the first left out
                break
        assert len(next_beams) == K
        beams, beam_scores = next_beams, torch.tensor(next_scores, dtype=torch.float64)
        done = hyps.is_done(values[0].item(), t + 1)
        if done:
            break
    if not done:
        for k in range(K):
            hyps.add(beams[k][1:], beam_scores[k].item(), len(beams[k]) - 1, False)
    ranked = sorted(hyps.beams, key=lambda h: h[0])
    if len(ranked) > 1:
        margins.note(ranked[-1][0], ranked[-2][0])
    _, tokens, eos = ranked[-1]
    return tokens + ([EOS] if eos else [])


def decode_all(c, params, inputs):
    margins = Margins()
    dec = Decoder(c, params)
    cases = [{"max_new_tokens": MAX_NEW_TOKENS, "num_beams": 1, "length_penalty": 1.0, "early_stopping": False,
              "outputs": [greedy(dec, x, MAX_NEW_TOKENS, margins) for x in inputs]}]
    for K, lp, es in BEAM_CASES:
        cases.append({"max_new_tokens": MAX_NEW_TOKENS, "num_beams": K, "length_penalty": lp, "early_stopping": es,
                      "outputs": [beam_search(dec, x, MAX_NEW_TOKENS, K, lp, es, margins) for x in inputs]})
    return cases, margins.smallest


def interesting(cases):
    """EOS at two or more different steps and some row without EOS (greedy); beams differ from greedy
    and the beam options give different outputs for some input."""
    greedy_out = cases[0]["outputs"]
    eos_steps = {len(o) for o in greedy_out if o and o[-1] == EOS}
    no_eos = any(not o or o[-1] != EOS for o in greedy_out)
    beam_outs = [c["outputs"] for c in cases[1:]]
    differs = any(b[i] != greedy_out[i] for b in beam_outs for i in range(len(greedy_out)))
    options_matter = any(len({tuple(b[i]) for b in beam_outs}) > 1 for i in range(len(greedy_out)))
    beam_eos = any(o and o[-1] == EOS for b in beam_outs for o in b)
    return len(eos_steps) >= 2 and no_eos and differs and options_matter and beam_eos


def run(name, c, out_dir, seed):
    for attempt in range(200):
        gen = torch.Generator().manual_seed(seed + 1000 * attempt)
        params = make_params(c, gen, scale=2.0, eos_scale=2.5)
        inputs = make_inputs(c, gen)
        cases, margin = decode_all(c, params, inputs)
        if margin >= MIN_MARGIN and interesting(cases):
            break
    else:
        raise SystemExit(f"{name}: no attempt gave margins >= {MIN_MARGIN} and varied outputs")
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(ref.hf_config(c), f, indent=1)
        f.write("\n")
    safetensors_check.write(os.path.join(d, "model.safetensors"),
                            {k: ("F32", v.float().contiguous()) for k, v in params.items()})
    meta = {"generator": "tests/reference/generate_reference.py", "torch": torch.__version__,
            "seed": seed + 1000 * attempt, "min_margin": margin, "inputs": inputs, "cases": cases}
    with open(os.path.join(d, "cases.json"), "w") as f:
        json.dump(meta, f)
        f.write("\n")
    g = cases[0]["outputs"]
    print(f"{name}: attempt {attempt}, min margin {margin:.4g}; greedy lengths {[len(o) for o in g]}, "
          f"EOS-ended {[bool(o) and o[-1] == EOS for o in g]}")
    for case in cases[1:]:
        print(f"  beams {case['num_beams']} lp {case['length_penalty']} early {case['early_stopping']}: "
              f"{[len(o) for o in case['outputs']]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/generate")
    ap.add_argument("--seed", type=int, default=4321)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for i, (name, c) in enumerate(ref.CONFIGS.items()):
        run(name, c, args.out, args.seed + i)


if __name__ == "__main__":
    main()
