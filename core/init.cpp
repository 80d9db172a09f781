// Counter-based normal samples: element i of a tensor takes SplitMix64 outputs 2⌊i/2⌋ and
// 2⌊i/2⌋+1 of a stream whose start is a hash of (seed, tensor name), and Box-Muller turns the pair
// into two independent N(0,1) values (cosine for even i, sine for odd i). SplitMix64 (Steele, Lea,
// Flood 2014) is a good 64-bit mixer that passes BigCrush as a sequence.
#include "core/init.h"

#include <cmath>
#include <numbers>
#include <string>

#include "core/model.h"

namespace t5 {

namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

uint64_t stream_key(uint64_t seed, const std::string& name) { return mix64(mix64(seed + kGolden) ^ fnv1a(name)); }

// Output `counter` of the SplitMix64 stream that starts at `key`.
uint64_t splitmix_at(uint64_t key, uint64_t counter) { return mix64(key + (counter + 1) * kGolden); }

// Uniform in (0, 1]: never 0, so the logarithm below is finite.
double uniform_open0(uint64_t bits) { return double((bits >> 11) + 1) * 0x1.0p-53; }

// The two Box-Muller values of pair `pair`.
void normal_pair(uint64_t key, uint64_t pair, double& even, double& odd) {
  const double radius = std::sqrt(-2.0 * std::log(uniform_open0(splitmix_at(key, 2 * pair))));
  const double angle = 2.0 * std::numbers::pi * uniform_open0(splitmix_at(key, 2 * pair + 1));
  even = radius * std::cos(angle);
  odd = radius * std::sin(angle);
}

void fill_normal(float* out, int64_t n, uint64_t key, double std) {
  const int64_t pairs = (n + 1) / 2;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pairs; ++p) {
    double even, odd;
    normal_pair(key, uint64_t(p), even, odd);
    out[2 * p] = float(std * even);
    if (2 * p + 1 < n) out[2 * p + 1] = float(std * odd);
  }
}

}  // namespace

double init_normal(uint64_t seed, const std::string& name, int64_t index) {
  double even, odd;
  normal_pair(stream_key(seed, name), uint64_t(index / 2), even, odd);
  return index % 2 == 0 ? even : odd;
}

void init_params(const ParamTable& table, float* params, uint64_t seed) {
  for (const ParamSpec& p : table.params()) {
    float* out = params + p.offset;
    if (p.init.ones) {
      std::fill(out, out + p.numel, 1.0f);
    } else {
      fill_normal(out, p.numel, stream_key(seed, p.name), p.init.std);
    }
  }
}

void init_params(Model& model, uint64_t seed) { init_params(model.table(), model.params(), seed); }

}  // namespace t5
