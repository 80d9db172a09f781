// Every fast GEMM backend (OpenBLAS, oneDNN f32, oneDNN bf16, their batched forms) against the naive
// oracle of core/gemm.cpp, over transposes, padded leading dimensions, odd sizes, alpha and beta.
// f32 tolerance: 2e-5 of sum_k |alpha a_ik b_kj| + |beta c_ij| (f32 rounding over K terms);
// bf16 is checked two ways: tightly against the oracle run on the bf16-rounded operands (so only the
// accumulation differs), and loosely (2^-7 relative) against the oracle on the f32 operands, on each
// bf16 path: native where this CPU has a bf16 matmul, and emulated (f32 matmul over the widened bf16
// values, issue 13) on every CPU. The emulated path multiplies the same bf16 values exactly (a product
// of two 8-bit significands fits f32's 24) and only sums in another order, so the same 2e-5 bound
// holds (f32 summation of K <= 300 terms: a few ulps of sum_k |a b| in practice, as for f32 above).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include <omp.h>

#include "core/error.h"
#include "core/cpu_isa.h"
#include "core/gemm.h"
#include "core/mixed_precision.h"

namespace t5 {
namespace {

constexpr float kSentinel = -12345.0f;  // written into padding; a backend must never touch it

std::vector<float> random_values(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

double testing_max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

std::vector<float> rounded_to_bf16(std::vector<float> v) {
  for (float& x : v) x = round_to_bf16(x);
  return v;
}

// Forces the emulated bf16 path for its lifetime (core/gemm.h).
struct EmulatedBf16 {
  EmulatedBf16() { force_bf16_emulation(true); }
  ~EmulatedBf16() { force_bf16_emulation(false); }
  EmulatedBf16(const EmulatedBf16&) = delete;
  EmulatedBf16& operator=(const EmulatedBf16&) = delete;
};

const char* why_no_native_bf16() {
  return std::getenv("T5SCALE_BF16_EMULATE") != nullptr
             ? "T5SCALE_BF16_EMULATE is set"
             : "oneDNN has no native bf16 matmul on this CPU (no AVX512-BF16/AMX, or ONEDNN_MAX_CPU_ISA caps it)";
}

// Runs `body` on the native bf16 path where this CPU has one (else says once why not), then on the
// emulated path, forced, whatever the CPU. Failures name the path.
void on_each_bf16_path(const std::function<void()>& body) {
  if (bf16_matmul_native()) {
    SCOPED_TRACE("native bf16");
    EXPECT_EQ(precision_path(GemmPrecision::bf16), PrecisionPath::native);
    body();
  } else {
    static bool said = false;
    if (!std::exchange(said, true)) std::printf("[bf16] native path not tested: %s\n", why_no_native_bf16());
  }
  SCOPED_TRACE("emulated bf16");
  const EmulatedBf16 emulated;
  ASSERT_EQ(precision_path(GemmPrecision::bf16), PrecisionPath::emulated);
  body();
}

// One product with padded storage: A stored [a_rows, lda], B [b_rows, ldb], C [M, ldc].
struct Case {
  Trans ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad;  // extra columns of every leading dimension
  int64_t a_rows() const { return ta == Trans::N ? M : K; }
  int64_t a_cols() const { return ta == Trans::N ? K : M; }
  int64_t b_rows() const { return tb == Trans::N ? K : N; }
  int64_t b_cols() const { return tb == Trans::N ? N : K; }
  int64_t lda() const { return a_cols() + pad; }
  int64_t ldb() const { return b_cols() + pad; }
  int64_t ldc() const { return N + pad; }
};

std::string describe(const Case& c) {
  return fmt::format("ta={} tb={} M={} N={} K={} alpha={} beta={} pad={}", int(c.ta), int(c.tb), c.M, c.N, c.K,
                     c.alpha, c.beta, c.pad);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 96, 64}, {5, 300, 2}, {64, 3, 257}};
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (const auto& s : sizes)
        for (const auto& [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 0.75f}, std::pair{-1.25f, 1.0f}})
          out.push_back({ta, tb, s[0], s[1], s[2], alpha, beta, (s[0] + s[2]) % 3 == 0 ? 0 : 3});
  return out;
}

// Elementwise error bound scale: sum_k |alpha a_ik b_kj| + |beta c_ij|.
std::vector<double> magnitude(const Case& c, const std::vector<float>& A, const std::vector<float>& B,
                              const std::vector<float>& C0) {
  std::vector<float> absA(A.size()), absB(B.size()), out(C0.size());
  for (size_t i = 0; i < A.size(); ++i) absA[i] = std::fabs(A[i]);
  for (size_t i = 0; i < B.size(); ++i) absB[i] = std::fabs(B[i]);
  gemm_naive(c.ta, c.tb, c.M, c.N, c.K, 1.0f, absA.data(), c.lda(), absB.data(), c.ldb(), 0.0f, out.data(),
             c.ldc());
  std::vector<double> mag(C0.size());
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      const size_t at = size_t(i * c.ldc() + j);
      mag[at] = std::fabs(c.alpha) * out[at] + std::fabs(c.beta * C0[at]);
    }
  return mag;
}

using Backend = std::function<void(const Case&, const float* A, const float* B, float* C)>;

// Runs `backend` on random operands and compares with the naive oracle on `oracle_a/b(A/B)`.
void check_against_oracle(const Backend& backend, double relative_tolerance, bool oracle_on_bf16,
                          const char* name) {
  uint64_t seed = 1;
  for (const Case& c : cases()) {
    const std::vector<float> A = random_values(c.a_rows() * c.lda(), seed++);
    const std::vector<float> B = random_values(c.b_rows() * c.ldb(), seed++);
    std::vector<float> C0 = random_values(c.M * c.ldc(), seed++);
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = c.N; j < c.ldc(); ++j) C0[size_t(i * c.ldc() + j)] = kSentinel;
    std::vector<float> expected = C0, got = C0;
    const std::vector<float> oa = oracle_on_bf16 ? rounded_to_bf16(A) : A;
    const std::vector<float> ob = oracle_on_bf16 ? rounded_to_bf16(B) : B;
    gemm_naive(c.ta, c.tb, c.M, c.N, c.K, c.alpha, oa.data(), c.lda(), ob.data(), c.ldb(), c.beta,
               expected.data(), c.ldc());
    backend(c, A.data(), B.data(), got.data());
    const std::vector<double> mag = magnitude(c, A, B, C0);
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < c.ldc(); ++j) {
        const size_t at = size_t(i * c.ldc() + j);
        if (j >= c.N) {
          ASSERT_EQ(got[at], kSentinel) << name << " wrote padding at " << i << "," << j << " " << describe(c);
          continue;
        }
        ASSERT_NEAR(got[at], expected[at], relative_tolerance * mag[at] + 1e-30)
            << name << " at " << i << "," << j << " " << describe(c);
      }
    }
  }
}

using F32Gemm = void (*)(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);

Backend through(F32Gemm fn) {
  return [fn](const Case& c, const float* A, const float* B, float* C) {
    fn(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, c.lda(), B, c.ldb(), c.beta, C, c.ldc());
  };
}

TEST(Gemm, OpenBlasMatchesOracle) { check_against_oracle(through(gemm_openblas), 2e-5, false, "openblas"); }

TEST(Gemm, OneDnnMatchesOracle) { check_against_oracle(through(gemm_onednn), 2e-5, false, "onednn"); }

TEST(Gemm, DispatchUsesEachBackend) {
  for (GemmBackend b : {GemmBackend::naive, GemmBackend::openblas, GemmBackend::onednn}) {
    set_gemm_backend(b);
    check_against_oracle(through(gemm), 2e-5, false, to_string(b));
  }
  set_gemm_backend(GemmBackend::onednn);
  EXPECT_EQ(parse_gemm_backend("openblas"), GemmBackend::openblas);
  EXPECT_THROW(parse_gemm_backend("mkl"), Error);
  EXPECT_EQ(parse_gemm_precision("bf16"), GemmPrecision::bf16);
  EXPECT_THROW(parse_gemm_precision("fp16"), Error);
}

TEST(Gemm, Bf16FromF32MatchesOracleOnRoundedOperands) {
  on_each_bf16_path([] {
    check_against_oracle(through(static_cast<F32Gemm>(gemm_bf16)), 2e-5, true, "bf16 (f32 operands)");
  });
}

TEST(Gemm, Bf16OperandsMatchOracle) {
  on_each_bf16_path([] {
    const Backend prepacked = [](const Case& c, const float* A, const float* B, float* C) {
      std::vector<bf16> a(size_t(c.a_rows() * c.lda())), b(size_t(c.b_rows() * c.ldb()));
      to_bf16(A, a.data(), int64_t(a.size()));
      to_bf16(B, b.data(), int64_t(b.size()));
      gemm_bf16(c.ta, c.tb, c.M, c.N, c.K, c.alpha, a.data(), c.lda(), b.data(), c.ldb(), c.beta, C, c.ldc());
    };
    check_against_oracle(prepacked, 2e-5, true, "bf16 (bf16 operands, rounded oracle)");
    // Against the f32 product: each operand carries a relative rounding error up to 2^-9.
    check_against_oracle(prepacked, 1.0 / 128, false, "bf16 (bf16 operands, f32 oracle)");
  });
}

// Inside a Bf16Scope, gemm() is a bf16 product: equal to the oracle on rounded operands, and the
// rounding is visible against the f32 oracle (so the scope cannot silently run f32).
TEST(Gemm, Bf16ScopeRunsGemmInBf16) {
  on_each_bf16_path([] {
    const Backend scoped = [](const Case& c, const float* A, const float* B, float* C) {
      const Bf16Scope scope;
      EXPECT_TRUE(bf16_gemm_active());
      gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, c.lda(), B, c.ldb(), c.beta, C, c.ldc());
    };
    check_against_oracle(scoped, 2e-5, true, "gemm in a Bf16Scope");
    EXPECT_FALSE(bf16_gemm_active());
    const std::vector<float> A = random_values(64 * 64, 31), B = random_values(64 * 64, 32);
    std::vector<float> f32(64 * 64), mixed(64 * 64);
    gemm(Trans::N, Trans::N, 64, 64, 64, 1.0f, A.data(), 64, B.data(), 64, 0.0f, f32.data(), 64);
    {
      const Bf16Scope scope;
      gemm(Trans::N, Trans::N, 64, 64, 64, 1.0f, A.data(), 64, B.data(), 64, 0.0f, mixed.data(), 64);
    }
    EXPECT_GT(testing_max_abs_diff(f32, mixed), 1e-4);
    std::vector<float> after(64 * 64);  // the scope has ended: f32 again, bit for bit
    gemm(Trans::N, Trans::N, 64, 64, 64, 1.0f, A.data(), 64, B.data(), 64, 0.0f, after.data(), 64);
    EXPECT_EQ(after, f32);
  });
}

// A registered mirror is read instead of converting the operand: a mirror holding 2·B doubles the
// product; an operand reaching past the mirror's end is converted from its own values.
TEST(Gemm, Bf16MirrorIsReadForOperandsInsideIt) {
  on_each_bf16_path([] {
    const int64_t M = 8, N = 16, K = 32;
    const std::vector<float> A = random_values(M * K, 41), W = random_values(N * K + 5, 42);
    std::vector<float> doubled(W.size());
    for (size_t i = 0; i < W.size(); ++i) doubled[i] = 2.0f * W[i];
    std::vector<bf16> mirror(W.size());
    to_bf16(doubled.data(), mirror.data(), int64_t(W.size()));
    const std::vector<float> a = rounded_to_bf16(A), w = rounded_to_bf16(W), w2 = rounded_to_bf16(doubled);
    std::vector<float> expected(M * N), expected_own(M * N), got(M * N), got_outside(M * N);
    gemm_naive(Trans::N, Trans::T, M, N, K, 1.0f, a.data(), K, w2.data(), K, 0.0f, expected.data(), N);
    gemm_naive(Trans::N, Trans::T, M, N, K, 1.0f, a.data(), K, w.data() + 5, K, 0.0f, expected_own.data(), N);
    {
      const Bf16Scope scope;
      add_bf16_mirror(W.data(), mirror.data(), N * K + 4);  // covers W[0, N·K + 4) only
      gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, got.data(), N);
      gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data() + 5, K, 0.0f, got_outside.data(), N);
      EXPECT_THROW(Bf16Scope nested, Error);
    }
    EXPECT_LT(testing_max_abs_diff(got, expected), 1e-4);
    EXPECT_LT(testing_max_abs_diff(got_outside, expected_own), 1e-4);
    EXPECT_THROW(add_bf16_mirror(W.data(), mirror.data(), 1), Error);  // no scope
  });
}

// A Bf16OperandMirror converts its operand once at creation: products inside its lifetime read that
// snapshot (a change to the f32 values after creation is not seen), products after it convert the
// current values again; nested ones pop in order; outside a scope it does nothing.
TEST(Gemm, Bf16OperandMirrorIsASnapshotForItsLifetime) {
  on_each_bf16_path([] {
    const int64_t M = 8, N = 16, K = 32;
    std::vector<float> A = random_values(M * K, 43);
    const std::vector<float> W = random_values(N * K, 44), original = A;
    std::vector<float> doubled(A.size());
    for (size_t i = 0; i < A.size(); ++i) doubled[i] = 2.0f * A[i];
    const std::vector<float> a = rounded_to_bf16(A), a2 = rounded_to_bf16(doubled), w = rounded_to_bf16(W);
    std::vector<float> expected(M * N), expected2(M * N), inside(M * N), nested(M * N), after(M * N), plain(M * N);
    gemm_naive(Trans::N, Trans::T, M, N, K, 1.0f, a.data(), K, w.data(), K, 0.0f, expected.data(), N);
    gemm_naive(Trans::N, Trans::T, M, N, K, 1.0f, a2.data(), K, w.data(), K, 0.0f, expected2.data(), N);
    {
      const Bf16Scope scope;
      {
        const Bf16OperandMirror once(A.data(), M * K);
        A = doubled;  // after the conversion: not seen inside the mirror's lifetime
        gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, inside.data(), N);
        {
          const Bf16OperandMirror of_w(W.data(), N * K);
          gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, nested.data(), N);
        }
      }
      gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, after.data(), N);
    }
    EXPECT_LT(testing_max_abs_diff(inside, expected), 1e-4);
    EXPECT_LT(testing_max_abs_diff(nested, expected), 1e-4);
    EXPECT_LT(testing_max_abs_diff(after, expected2), 1e-4);  // popped: the doubled values are converted
    A = original;
    const Bf16OperandMirror outside(A.data(), M * K);  // no scope: a plain f32 product follows
    gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, plain.data(), N);
    std::vector<float> f32(M * N);
    gemm_naive(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, f32.data(), N);
    EXPECT_LT(testing_max_abs_diff(plain, f32), 1e-4);
  });
}

TEST(Bf16, ParallelConversionEqualsScalarRounding) {
  const std::vector<float> x = random_values((1 << 17) + 3, 51);
  std::vector<bf16> b(x.size());
  to_bf16_parallel(x.data(), b.data(), int64_t(x.size()));
  std::vector<float> back(x.size());
  from_bf16(b.data(), back.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(back[i], round_to_bf16(x[i])) << i;
}

TEST(Gemm, DegenerateSizes) {
  on_each_bf16_path([] {
    std::vector<float> C = {1.0f, 2.0f, 3.0f, 4.0f};
    const float dummy = 0.0f;
    const bf16 dummy16{0};
    gemm_onednn(Trans::N, Trans::N, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 0.5f, C.data(), 2);  // K = 0: C *= beta
    EXPECT_EQ(C, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
    gemm_bf16(Trans::N, Trans::N, 2, 2, 0, 1.0f, &dummy16, 1, &dummy16, 2, 2.0f, C.data(), 2);
    EXPECT_EQ(C, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
    gemm_bf16(Trans::N, Trans::N, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 0.0f, C.data(), 2);
    EXPECT_EQ(C, (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}));
    gemm_onednn(Trans::N, Trans::N, 0, 2, 3, 1.0f, &dummy, 3, &dummy, 2, 0.0f, C.data(), 2);  // M = 0: nothing
  });
}

TEST(Gemm, PrimitivesAreCached) {
  const std::vector<float> A = random_values(24 * 40, 7), B = random_values(40 * 16, 8);
  std::vector<float> C(24 * 16);
  gemm_onednn(Trans::N, Trans::N, 24, 16, 40, 1.0f, A.data(), 40, B.data(), 16, 0.0f, C.data(), 16);
  const int64_t after_first = onednn_cached_primitives();
  for (int i = 0; i < 3; ++i)
    gemm_onednn(Trans::N, Trans::N, 24, 16, 40, 1.0f, A.data(), 40, B.data(), 16, 0.0f, C.data(), 16);
  EXPECT_EQ(onednn_cached_primitives(), after_first);
  gemm_onednn(Trans::N, Trans::N, 24, 16, 40, 1.0f, A.data(), 40, B.data(), 16, 1.0f, C.data(), 16);  // beta
  EXPECT_EQ(onednn_cached_primitives(), after_first + 1);
}

// Attention-like batch: outer = batch, inner = heads interleaved in the token rows (row stride nh*kv).
struct BatchCase {
  Trans ta, tb;
  int64_t outer, inner, M, N, K;
  float alpha, beta;
};

void check_batched(const BatchCase& bc, bool bf16_operands, bool inside_parallel) {
  // Operands stored [outer, rows, inner, cols]: product (o, i) starts at o*rows*inner*cols + i*cols.
  const int64_t a_rows = bc.ta == Trans::N ? bc.M : bc.K, a_cols = bc.ta == Trans::N ? bc.K : bc.M;
  const int64_t b_rows = bc.tb == Trans::N ? bc.K : bc.N, b_cols = bc.tb == Trans::N ? bc.N : bc.K;
  const int64_t lda = bc.inner * a_cols, ldb = bc.inner * b_cols, ldc = bc.N + 1;
  const GemmBatch batch{.outer = bc.outer, .inner = bc.inner, .a_outer = a_rows * lda, .a_inner = a_cols,
                        .b_outer = b_rows * ldb, .b_inner = b_cols, .c_outer = bc.inner * bc.M * ldc,
                        .c_inner = bc.M * ldc};
  std::vector<float> A = random_values(bc.outer * a_rows * lda, 11), B = random_values(bc.outer * b_rows * ldb, 12);
  if (bf16_operands) A = rounded_to_bf16(A), B = rounded_to_bf16(B);
  const std::vector<float> C0 = random_values(bc.outer * batch.c_outer, 13);
  std::vector<float> expected = C0;
  gemm_batched_naive(bc.ta, bc.tb, bc.M, bc.N, bc.K, bc.alpha, A.data(), lda, B.data(), ldb, bc.beta,
                     expected.data(), ldc, batch);
  std::vector<bf16> a16(A.size()), b16(B.size());
  to_bf16(A.data(), a16.data(), int64_t(A.size()));
  to_bf16(B.data(), b16.data(), int64_t(B.size()));
  const std::vector<GemmBackend> backends = {GemmBackend::openblas, GemmBackend::onednn};
  // bf16 variants: 0 = bf16 operands, 1 = f32 operands through gemm_batched inside a Bf16Scope.
  for (size_t variant = 0; variant < (bf16_operands ? 2 : backends.size()); ++variant) {
    std::vector<float> got = C0;
    const auto run = [&] {
      if (bf16_operands && variant == 0) {
        gemm_batched_bf16(bc.ta, bc.tb, bc.M, bc.N, bc.K, bc.alpha, a16.data(), lda, b16.data(), ldb, bc.beta,
                          got.data(), ldc, batch);
      } else if (bf16_operands) {
        const Bf16Scope scope;
        gemm_batched(bc.ta, bc.tb, bc.M, bc.N, bc.K, bc.alpha, A.data(), lda, B.data(), ldb, bc.beta, got.data(),
                     ldc, batch);
      } else
        gemm_batched(bc.ta, bc.tb, bc.M, bc.N, bc.K, bc.alpha, A.data(), lda, B.data(), ldb, bc.beta, got.data(),
                     ldc, batch);
    };
    set_gemm_backend(backends[bf16_operands ? 1 : variant]);
    if (inside_parallel) {
#pragma omp parallel num_threads(2)
      {
#pragma omp single
        run();
      }
    } else {
      run();
    }
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], expected[i], 2e-5 * (std::fabs(expected[i]) + double(bc.K)))
          << "element " << i << (bf16_operands ? (variant ? " Bf16Scope" : " bf16") : to_string(backends[variant]))
          << (inside_parallel ? " inside a parallel region" : "");
  }
  set_gemm_backend(GemmBackend::onednn);
}

TEST(Gemm, BatchedMatchesOracle) {
  const BatchCase cases[] = {
      {Trans::N, Trans::T, 5, 3, 17, 13, 8, 1.0f, 0.0f},    // scores q kᵀ, outer >= threads
      {Trans::N, Trans::N, 1, 5, 17, 8, 13, 1.0f, 0.0f},    // context p v, split over heads
      {Trans::T, Trans::N, 3, 2, 8, 13, 17, 0.5f, 1.0f},    // gradient accumulation, beta = 1
      {Trans::T, Trans::T, 2, 3, 9, 7, 5, -1.0f, 0.25f}};
  for (const BatchCase& bc : cases)
    for (bool inside_parallel : {false, true}) {
      check_batched(bc, false, inside_parallel);
      on_each_bf16_path([&] { check_batched(bc, true, inside_parallel); });
    }
}

TEST(Gemm, StridedBatchedOverload) {
  const int64_t count = 6, M = 9, N = 7, K = 5;
  const std::vector<float> A = random_values(count * M * K, 21), B = random_values(count * K * N, 22);
  std::vector<float> expected(size_t(count * M * N)), got(expected.size());
  for (int64_t b = 0; b < count; ++b)
    gemm_naive(Trans::N, Trans::N, M, N, K, 1.0f, A.data() + b * M * K, K, B.data() + b * K * N, N, 0.0f,
               expected.data() + b * M * N, N);
  gemm_batched(Trans::N, Trans::N, M, N, K, 1.0f, A.data(), K, M * K, B.data(), N, K * N, 0.0f, got.data(), N,
               M * N, count);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-5) << i;
}

uint16_t bits_of(float x) {
  bf16 b;
  to_bf16(&x, &b, 1);
  return b.bits;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(bits_of(1.0f), 0x3f80);
  EXPECT_EQ(bits_of(from_bits(0x3f808000u)), 0x3f80);  // tie, even below: down
  EXPECT_EQ(bits_of(from_bits(0x3f818000u)), 0x3f82);  // tie, odd below: up
  EXPECT_EQ(bits_of(from_bits(0x3f808001u)), 0x3f81);  // just above the tie: up
  EXPECT_EQ(bits_of(-2.0f), 0xc000);
  EXPECT_EQ(bits_of(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
  EXPECT_EQ(bits_of(from_bits(0x7f800000u)), 0x7f80);  // infinity stays
  EXPECT_TRUE(std::isnan(round_to_bf16(std::nanf(""))));
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0x7f800001u))));  // low-payload NaN must not become inf
  const bf16 b{0x4049};  // 3.140625
  float back = 0;
  from_bf16(&b, &back, 1);
  EXPECT_EQ(back, 3.140625f);
}

// The path and its label: what bench, train, sweep records and the dry run print and store.
TEST(Bf16, PathAndLabel) {
  EXPECT_EQ(precision_path(GemmPrecision::fp32), PrecisionPath::native);
  EXPECT_EQ(precision_label(GemmPrecision::fp32), "fp32");
  EXPECT_EQ(precision_label(GemmPrecision::bf16, PrecisionPath::native), "bf16");
  EXPECT_EQ(precision_label(GemmPrecision::bf16, PrecisionPath::emulated), "bf16 (emulated)");
  EXPECT_STREQ(to_string(PrecisionPath::emulated), "emulated");
  EXPECT_STREQ(to_string(PrecisionPath::native), "native");
  const bool native = bf16_matmul_native();
  EXPECT_EQ(precision_label(GemmPrecision::bf16), native ? "bf16" : "bf16 (emulated)");
  {
    const EmulatedBf16 emulated;
    EXPECT_FALSE(bf16_matmul_native());
    EXPECT_EQ(precision_label(GemmPrecision::bf16), "bf16 (emulated)");
    EXPECT_EQ(precision_path(GemmPrecision::fp32), PrecisionPath::native);  // fp32 is never emulated
  }
  EXPECT_EQ(bf16_matmul_native(), native);  // the probe's answer is back
}

// Where both paths exist they compute the same bf16 products: each is within 2e-5 of the exact sum
// over the same bf16 values (the oracle tests above), so they are within twice that of each other.
TEST(Gemm, Bf16NativeAndEmulatedAgree) {
  if (!bf16_matmul_native()) GTEST_SKIP() << why_no_native_bf16();
  uint64_t seed = 500;
  for (const Case& c : cases()) {
    const std::vector<float> A = random_values(c.a_rows() * c.lda(), seed++), B = random_values(c.b_rows() * c.ldb(), seed++);
    const std::vector<float> C0 = random_values(c.M * c.ldc(), seed++);
    std::vector<float> native = C0, emulated = C0;
    gemm_bf16(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), c.lda(), B.data(), c.ldb(), c.beta, native.data(), c.ldc());
    {
      const EmulatedBf16 forced;
      gemm_bf16(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), c.lda(), B.data(), c.ldb(), c.beta, emulated.data(),
                c.ldc());
    }
    const std::vector<double> mag = magnitude(c, rounded_to_bf16(A), rounded_to_bf16(B), C0);
    for (size_t i = 0; i < native.size(); ++i)
      ASSERT_NEAR(native[i], emulated[i], 4e-5 * mag[i] + 1e-30) << "element " << i << " " << describe(c);
  }
}

// The message of a failed oneDNN call: the first line of `call`'s t5::Error, or what went wrong instead.
std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a t5::Error: ") + e.what();
  }
  return "no error";
}

void expect_names_the_product(const std::string& message, const std::string& precision, const std::string& shape) {
  EXPECT_THAT(message, ::testing::HasSubstr("matmul failed creating the primitive: " + precision)) << message;
  EXPECT_THAT(message, ::testing::HasSubstr(shape)) << message;
  EXPECT_THAT(message, ::testing::HasSubstr("(status invalid_arguments)")) << message;
  EXPECT_THAT(message, ::testing::HasSubstr("(hint: ")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;  // one line
}

// Every oneDNN failure is one t5::Error naming the primitive, precision (and data type), the shapes and
// oneDNN's status, provoked here by an impossible size (N < 0), plain and batched (the batched one from
// inside run_batched's parallel region, which must reach the caller as a catchable exception).
TEST(Gemm, OneDnnFailureNamesPrimitivePrecisionAndShapes) {
  const int threads = num_threads();
  set_num_threads(2);  // the batched product splits over threads: the error comes from inside the region
  std::vector<float> f(256, 1.0f);
  std::vector<bf16> h(256, bf16{0x3f80});
  const GemmBatch batch{.outer = 4, .inner = 1, .a_outer = 20, .b_outer = 15, .c_outer = 12};
  const std::string plain = "M=4 N=-3 K=5 ta=N tb=T lda=5 ldb=5 ldc=3 alpha=1 beta=0";
  expect_names_the_product(error_of([&] {
    gemm_onednn(Trans::N, Trans::T, 4, -3, 5, 1.0f, f.data(), 5, f.data(), 5, 0.0f, f.data(), 3);
  }), "fp32 (f32 x f32 -> f32)", plain);
  expect_names_the_product(error_of([&] {
    gemm_batched_onednn(Trans::N, Trans::T, 4, -3, 5, 0.5f, f.data(), 5, f.data(), 5, 1.0f, f.data(), 3, batch);
  }), "fp32 (f32 x f32 -> f32)", "M=4 N=-3 K=5 ta=N tb=T lda=5 ldb=5 ldc=3 alpha=0.5 beta=1 batch");
  on_each_bf16_path([&] {
    const std::string precision =
        bf16_matmul_native() ? "bf16 (bf16 x bf16 -> f32)" : "bf16 (emulated) (f32 x f32 -> f32)";
    expect_names_the_product(error_of([&] {
      gemm_bf16(Trans::N, Trans::T, 4, -3, 5, 1.0f, h.data(), 5, h.data(), 5, 0.0f, f.data(), 3);
    }), precision, plain);
    expect_names_the_product(error_of([&] {
      gemm_batched_bf16(Trans::N, Trans::T, 4, -3, 5, 1.0f, h.data(), 5, h.data(), 5, 0.0f, f.data(), 3, batch);
    }), precision, plain + " batch 4x1");
  });
  set_num_threads(threads);
}

}  // namespace
}  // namespace t5

namespace t5 {
namespace {

// core/cpu_isa.cpp re-selects OpenBLAS's kernels at start-up to match the active level: AVX-512 ones
// where the level is avx512 (whatever OpenBLAS's own detection said: Haswell on Zen 5 and Sapphire
// Rapids), never AVX-512 ones where the level is capped below it (T5SCALE_MAX_CPU_ISA=avx2).
TEST(Gemm, OpenBlasKernelsMatchTheActiveLevel) {
  if (std::getenv("T5SCALE_KEEP_OPENBLAS_CORETYPE") != nullptr) GTEST_SKIP() << "kept on purpose";
  const std::string config = openblas_config();
  EXPECT_NE(config.find("USE_OPENMP"), std::string::npos) << config;
  const bool avx512_core = config.find("(SkylakeX)") != std::string::npos ||
                           config.find("(Cooperlake)") != std::string::npos ||
                           config.find("(SapphireRapids)") != std::string::npos;
  EXPECT_EQ(avx512_core, active_isa() == IsaLevel::avx512) << config << " at level " << to_string(active_isa());
}

}  // namespace
}  // namespace t5
