// The products of one greedy decoding step of t5-efficient-tiny at batch 32 (downstream/generate.cpp),
// per GEMM backend and weight layout: the output head (32 x 32128 x 256) with the weights as the model
// stores them ([V, dm], used transposed) or pre-transposed once per decode ([dm, V]), and a decoder
// projection (32 x 768 x 256). Real time, single and multi-threaded as OMP_NUM_THREADS says.
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/gemm.h"

namespace {

std::vector<float> random_values(size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void product(benchmark::State& state, t5::GemmBackend backend, bool pre_transposed, int64_t N, int64_t K) {
  const int64_t M = 32;
  const std::vector<float> A = random_values(size_t(M * K)), W = random_values(size_t(N * K));
  std::vector<float> C(size_t(M * N));
  t5::set_gemm_backend(backend);
  for (auto _ : state) {
    if (pre_transposed)  // W as [K, N]
      t5::gemm(t5::Trans::N, t5::Trans::N, M, N, K, 1.0f, A.data(), K, W.data(), N, 0.0f, C.data(), N);
    else  // W as [N, K]
      t5::gemm(t5::Trans::N, t5::Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, C.data(), N);
    benchmark::DoNotOptimize(C.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(double(2 * M * N * K), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void BM_head_onednn_VxD(benchmark::State& s) { product(s, t5::GemmBackend::onednn, false, 32128, 256); }
void BM_head_onednn_DxV(benchmark::State& s) { product(s, t5::GemmBackend::onednn, true, 32128, 256); }
void BM_head_openblas_VxD(benchmark::State& s) { product(s, t5::GemmBackend::openblas, false, 32128, 256); }
void BM_head_openblas_DxV(benchmark::State& s) { product(s, t5::GemmBackend::openblas, true, 32128, 256); }
void BM_qkv_onednn(benchmark::State& s) { product(s, t5::GemmBackend::onednn, false, 768, 256); }
void BM_qkv_openblas(benchmark::State& s) { product(s, t5::GemmBackend::openblas, false, 768, 256); }
BENCHMARK(BM_head_onednn_VxD)->UseRealTime();
BENCHMARK(BM_head_onednn_DxV)->UseRealTime();
BENCHMARK(BM_head_openblas_VxD)->UseRealTime();
BENCHMARK(BM_head_openblas_DxV)->UseRealTime();
BENCHMARK(BM_qkv_onednn)->UseRealTime();
BENCHMARK(BM_qkv_openblas)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
