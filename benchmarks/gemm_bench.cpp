// GEMM microbenchmarks at the products of a t5-efficient-tiny training step (batch 32, 128/29 tokens):
// every backend of core/gemm.h with a FLOP/s counter. Each fast backend is first tested equal to the
// naive oracle in tests/gemm_test.cpp. Real time is measured: the libraries run on several threads.
//   build/benchmarks/gemm_bench --benchmark_filter=ff_up
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/gemm.h"

namespace t5 {
namespace {

struct Product {
  const char* name;
  Trans ta, tb;
  int64_t M, N, K;
};

// Products of one tiny training step (tokens 32*128 = 4096 encoder, 32*29 = 928 decoder).
const Product kProducts[] = {
    {"q_fwd", Trans::N, Trans::T, 4096, 256, 256},       // x · qᵀ (one projection)
    {"q_dx", Trans::N, Trans::N, 4096, 256, 256},        // dq · q
    {"q_dw", Trans::T, Trans::N, 256, 256, 4096},        // dqᵀ · x
    {"qkv_fwd", Trans::N, Trans::T, 4096, 768, 256},     // x · [q;k;v]ᵀ (the three fused)
    {"qkv_dx", Trans::N, Trans::N, 4096, 256, 768},      // [dq dk dv] · [q;k;v]
    {"qkv_dw", Trans::T, Trans::N, 768, 256, 4096},      // [dq dk dv]ᵀ · x
    {"ff_up", Trans::N, Trans::T, 4096, 1024, 256},      // x · wiᵀ
    {"ff_down", Trans::N, Trans::T, 4096, 256, 1024},    // h · woᵀ
    {"ff_up_dx", Trans::N, Trans::N, 4096, 256, 1024},   // dh · wi
    {"ff_up_dw", Trans::T, Trans::N, 1024, 256, 4096},   // dhᵀ · x
    {"lm_head", Trans::N, Trans::T, 928, 32128, 256},    // h · sharedᵀ
    {"lm_head_dw", Trans::T, Trans::N, 32128, 256, 928}, // dlogitsᵀ · h
    // The demo sweep's head (d_model 128, batch 16 x 14 target tokens): small d_model, short products.
    {"demo_head", Trans::N, Trans::T, 224, 32128, 128},
    {"demo_head_dw", Trans::T, Trans::N, 32128, 128, 224},
    {"demo_head_dx_slice", Trans::N, Trans::N, 224, 128, 8032},  // one of 4 vocabulary slices
};

std::vector<float> random_matrix(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["FLOP/s"] = benchmark::Counter(flops_per_iteration * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

using F32Gemm = void (*)(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);

// fn == nullptr: gemm_bf16 on operands converted to bf16 beforehand (weights converted once per step).
void BM_Gemm(benchmark::State& state, Product p, F32Gemm fn) {
  const int64_t a_rows = p.ta == Trans::N ? p.M : p.K, a_cols = p.ta == Trans::N ? p.K : p.M;
  const int64_t b_rows = p.tb == Trans::N ? p.K : p.N, b_cols = p.tb == Trans::N ? p.N : p.K;
  const std::vector<float> A = random_matrix(a_rows * a_cols, 1), B = random_matrix(b_rows * b_cols, 2);
  std::vector<float> C(size_t(p.M * p.N));
  std::vector<bf16> a16(A.size()), b16(B.size());
  to_bf16(A.data(), a16.data(), int64_t(A.size()));
  to_bf16(B.data(), b16.data(), int64_t(B.size()));
  for (auto _ : state) {
    if (fn)
      fn(p.ta, p.tb, p.M, p.N, p.K, 1.0f, A.data(), a_cols, B.data(), b_cols, 0.0f, C.data(), p.N);
    else
      gemm_bf16(p.ta, p.tb, p.M, p.N, p.K, 1.0f, a16.data(), a_cols, b16.data(), b_cols, 0.0f, C.data(), p.N);
    benchmark::DoNotOptimize(C.data());
  }
  set_flops(state, 2.0 * double(p.M) * double(p.N) * double(p.K));
}

// Attention scores of tiny: batch 32 x 4 heads, q·kᵀ of 128x128 over kv 64, heads interleaved in the
// token rows ([B, L, nh*kv] layout) so each head's matrices have row stride nh*kv.
void BM_AttentionScores(benchmark::State& state, GemmBackend backend, bool bf16_operands) {
  const int64_t B = 32, nh = 4, kv = 64, L = 128, inner = nh * kv;
  const std::vector<float> q = random_matrix(B * L * inner, 3), k = random_matrix(B * L * inner, 4);
  std::vector<float> scores(size_t(B * nh * L * L));
  std::vector<bf16> q16(q.size()), k16(k.size());
  to_bf16(q.data(), q16.data(), int64_t(q.size()));
  to_bf16(k.data(), k16.data(), int64_t(k.size()));
  const GemmBatch batch{.outer = B, .inner = nh, .a_outer = L * inner, .a_inner = kv, .b_outer = L * inner,
                        .b_inner = kv, .c_outer = nh * L * L, .c_inner = L * L};
  set_gemm_backend(backend);
  for (auto _ : state) {
    if (bf16_operands)
      gemm_batched_bf16(Trans::N, Trans::T, L, L, kv, 1.0f, q16.data(), inner, k16.data(), inner, 0.0f,
                        scores.data(), L, batch);
    else
      gemm_batched(Trans::N, Trans::T, L, L, kv, 1.0f, q.data(), inner, k.data(), inner, 0.0f, scores.data(), L,
                   batch);
    benchmark::DoNotOptimize(scores.data());
  }
  set_flops(state, 2.0 * double(B * nh) * double(L * L * kv));
}

void BM_ToBf16(benchmark::State& state) {
  const std::vector<float> x = random_matrix(32128 * 256, 5);
  std::vector<bf16> y(x.size());
  for (auto _ : state) {
    to_bf16(x.data(), y.data(), int64_t(x.size()));
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(x.size() * 6));
}

void register_all() {
  const std::pair<const char*, F32Gemm> kinds[] = {{"openblas", gemm_openblas},
                                                   {"onednn", gemm_onednn},
                                                   {"bf16_converting", static_cast<F32Gemm>(gemm_bf16)},
                                                   {"bf16_prepacked", nullptr}};
  for (const Product& p : kProducts)
    for (const auto& [kind_name, kind] : kinds)
      benchmark::RegisterBenchmark((std::string("gemm/") + p.name + "/" + kind_name).c_str(), BM_Gemm, p, kind)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  for (GemmBackend b : {GemmBackend::openblas, GemmBackend::onednn})
    benchmark::RegisterBenchmark((std::string("attention_scores/") + to_string(b)).c_str(), BM_AttentionScores, b,
                                 false)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("attention_scores/bf16", BM_AttentionScores, GemmBackend::onednn, true)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("to_bf16/shared_embedding", BM_ToBf16)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace t5

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  t5::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
