// Timed GEMM ceiling (see ceiling.h).
#include "sweeps/ceiling.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/gemm.h"

namespace t5 {

GemmCeiling measure_gemm_ceiling(int64_t m, int64_t n, int64_t k, int repeats) {
  std::vector<float> a(size_t(m * k), 0.5f), b(size_t(k * n), 0.25f), c(size_t(m * n), 0.0f);
  gemm(Trans::N, Trans::N, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);   // warm-up
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    gemm(Trans::N, Trans::N, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  GemmCeiling g;
  g.flops_per_second = 2.0 * double(m) * double(n) * double(k) / best;
  g.m = m;
  g.n = n;
  g.k = k;
  g.repeats = repeats;
  g.backend = to_string(gemm_backend());
  return g;
}

GemmCeiling sweep_gemm_ceiling(const std::string& dir) {
  const std::string path = dir + "/ceiling.json";
  if (std::filesystem::exists(path)) {
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(path), nullptr, false);
    if (!j.is_discarded() && j.value("flops_per_second", 0.0) > 0)
      return {j["flops_per_second"].get<double>(), j.value("m", int64_t{0}), j.value("n", int64_t{0}),
              j.value("k", int64_t{0}), j.value("repeats", 0), j.value("backend", std::string())};
  }
  const GemmCeiling g = measure_gemm_ceiling();
  std::filesystem::create_directories(dir);
  write_text_atomic(path, nlohmann::json{{"flops_per_second", g.flops_per_second}, {"m", g.m}, {"n", g.n}, {"k", g.k},
                                         {"repeats", g.repeats}, {"backend", g.backend},
                                         {"what", "best of timed fp32 GEMMs C[m,n] = A[m,k] B[k,n], 1 multiply-add = 2 FLOPs"}}
                              .dump(2) + "\n");
  return g;
}

}  // namespace t5
