// Microbenchmarks of the non-GEMM kernels of core/layers.h at the sizes of a t5-efficient-tiny training
// step (batch 32, 128/29 tokens, dm 256, ff 1024, 4 heads of 64, vocabulary 32128), float, with FLOP/s
// counters. Each kernel is first tested equal to its double-precision reference in
// tests/layers_test.cpp (FastFloat* tests). FLOPs are nominal per element and named in each benchmark
// (exp counts as one); real time, because the kernels run on OpenMP threads.
//   build/benchmarks/layers_bench --benchmark_filter=cross_entropy
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/layers.h"
#include "core/vec_math.h"

namespace t5 {
namespace {

constexpr int64_t kNe = 32 * 128, kNd = 32 * 29, kDm = 256, kFf = 1024, kVocab = 32128;

std::vector<float> random_vec(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iteration * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_exp_approx(benchmark::State& state) {
  const std::vector<float> x = random_vec(1 << 16, 1, 10.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    for (size_t i = 0; i < x.size(); ++i) y[i] = exp_approx(x[i]);
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, double(x.size()));  // one exp per element
}

void BM_rmsnorm_forward(benchmark::State& state) {
  const std::vector<float> x = random_vec(kNe * kDm, 2), w = random_vec(kDm, 3);
  std::vector<float> out(x.size()), rstd(kNe);
  for (auto _ : state) rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), kNe, kDm, 1e-6);
  set_flops(state, 4.0 * kNe * kDm);  // square-add, two multiplies, per element
}

void BM_rmsnorm_backward(benchmark::State& state) {
  const std::vector<float> x = random_vec(kNe * kDm, 2), w = random_vec(kDm, 3), dout = random_vec(kNe * kDm, 4);
  std::vector<float> out(x.size()), rstd(kNe), dx(x.size()), dw(kDm);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), kNe, kDm, 1e-6);
  for (auto _ : state) rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), kNe, kDm);
  set_flops(state, 10.0 * kNe * kDm);  // dot (3), dx (4), dw (3) per element
}

void BM_relu_forward(benchmark::State& state) {
  const std::vector<float> a = random_vec(kNe * kFf, 5);
  std::vector<float> h(a.size());
  for (auto _ : state) relu_forward(h.data(), a.data(), kNe * kFf);
  set_flops(state, double(kNe * kFf));
}

void BM_relu_backward(benchmark::State& state) {
  const std::vector<float> a = random_vec(kNe * kFf, 5), dh = random_vec(kNe * kFf, 6);
  std::vector<float> da(a.size());
  for (auto _ : state) relu_backward(da.data(), dh.data(), a.data(), kNe * kFf);
  set_flops(state, double(kNe * kFf));
}

void BM_gated_gelu_forward(benchmark::State& state) {
  const std::vector<float> a = random_vec(kNe * kFf, 5), b = random_vec(kNe * kFf, 6);
  std::vector<float> h(a.size());
  for (auto _ : state) gated_gelu_forward(h.data(), a.data(), b.data(), kNe * kFf);
  set_flops(state, 10.0 * kNe * kFf);
}

void BM_gated_gelu_backward(benchmark::State& state) {
  const std::vector<float> a = random_vec(kNe * kFf, 5), b = random_vec(kNe * kFf, 6), dh = random_vec(kNe * kFf, 7);
  std::vector<float> da(a.size()), db(a.size());
  for (auto _ : state) gated_gelu_backward(da.data(), db.data(), dh.data(), a.data(), b.data(), kNe * kFf);
  set_flops(state, 25.0 * kNe * kFf);
}

void BM_embedding_backward(benchmark::State& state) {
  const std::vector<float> dout = random_vec(kNe * kDm, 8);
  std::vector<float> dtable(size_t(kVocab * kDm));
  std::vector<int32_t> ids(kNe);
  std::mt19937_64 rng(9);
  for (int32_t& id : ids) id = int32_t(rng() % kVocab);
  for (auto _ : state) embedding_backward(dtable.data(), dout.data(), ids.data(), kNe, kDm);
  set_flops(state, double(kNe * kDm));
}

// The output head's loss over row chunks of 256 decoder tokens (core/model.cpp): max, exp, sum,
// scale per logit, gradient written in place.
void BM_cross_entropy(benchmark::State& state) {
  const int64_t rows = 256;
  const std::vector<float> logits = random_vec(rows * kVocab, 10, 3.0f);
  std::vector<float> g(logits.size());
  std::vector<int32_t> labels(rows);
  for (int64_t r = 0; r < rows; ++r) labels[size_t(r)] = int32_t((r * 7919) % kVocab);
  for (auto _ : state) {
    double ce = 0, z = 0;
    cross_entropy_forward_backward(g.data(), &ce, &z, logits.data(), labels.data(), rows, kVocab, 1e-4, 1.0);
    benchmark::DoNotOptimize(ce);
  }
  set_flops(state, 5.0 * rows * kVocab);
}

// Whole attention core (scores, bias + mask softmax, context) of the encoder: batched per-head
// products parallelised over batch x heads. FLOPs: the two products (4·B·nh·L²·kv) plus 5 per score.
void BM_attention_forward(benchmark::State& state) {
  const AttentionDims d{32, 4, 128, 128, 64};
  const int64_t S = d.Lq * d.Lk, qn = d.heads() * d.Lq * d.kv;
  const std::vector<float> q = random_vec(qn, 11), k = random_vec(qn, 12), v = random_vec(qn, 13),
                           bias = random_vec(d.nh * S, 14);
  std::vector<float> ctx(static_cast<size_t>(qn)), probs(size_t(d.heads() * S));
  const std::vector<int32_t> seg(size_t(d.B * d.Lq), 1);
  for (auto _ : state)
    attention_forward(ctx.data(), probs.data(), static_cast<float*>(nullptr), q.data(), k.data(), v.data(),
                      bias.data(), seg.data(), seg.data(), false, d, Dropout{});
  set_flops(state, 4.0 * double(d.heads() * S * d.kv) + 5.0 * double(d.heads() * S));
}

void BM_attention_backward(benchmark::State& state) {
  const AttentionDims d{32, 4, 128, 128, 64};
  const int64_t S = d.Lq * d.Lk, qn = d.heads() * d.Lq * d.kv;
  const std::vector<float> q = random_vec(qn, 11), k = random_vec(qn, 12), v = random_vec(qn, 13),
                           bias = random_vec(d.nh * S, 14), dctx = random_vec(qn, 15);
  std::vector<float> ctx(static_cast<size_t>(qn)), probs(size_t(d.heads() * S)), scratch(probs.size()), dq(static_cast<size_t>(qn)),
      dk(static_cast<size_t>(qn)), dv(static_cast<size_t>(qn)), dbias(bias.size());
  const std::vector<int32_t> seg(size_t(d.B * d.Lq), 1);
  attention_forward(ctx.data(), probs.data(), scratch.data(), q.data(), k.data(), v.data(), bias.data(), seg.data(),
                    seg.data(), false, d, Dropout{});
  for (auto _ : state)
    attention_backward(dq.data(), dk.data(), dv.data(), dbias.data(), scratch.data(), dctx.data(), q.data(), k.data(),
                       v.data(), probs.data(), d, Dropout{});
  set_flops(state, 8.0 * double(d.heads() * S * d.kv) + 5.0 * double(d.heads() * S));
}

}  // namespace

BENCHMARK(BM_exp_approx)->UseRealTime();
BENCHMARK(BM_rmsnorm_forward)->UseRealTime();
BENCHMARK(BM_rmsnorm_backward)->UseRealTime();
BENCHMARK(BM_relu_forward)->UseRealTime();
BENCHMARK(BM_relu_backward)->UseRealTime();
BENCHMARK(BM_gated_gelu_forward)->UseRealTime();
BENCHMARK(BM_gated_gelu_backward)->UseRealTime();
BENCHMARK(BM_embedding_backward)->UseRealTime();
BENCHMARK(BM_cross_entropy)->UseRealTime();
BENCHMARK(BM_attention_forward)->UseRealTime();
BENCHMARK(BM_attention_backward)->UseRealTime();

}  // namespace t5

BENCHMARK_MAIN();
