// Small deterministic random numbers for the data pipeline. std::shuffle and the std distributions
// are implementation-defined, so a corpus or a mask would differ between standard libraries; these
// are fixed algorithms: SplitMix64 (Steele et al., 2014) and Lemire's unbiased bounded integers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>

namespace t5::data {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One seed from several integers (seed, epoch, group, piece, ...): order matters.
inline uint64_t derive_seed(std::initializer_list<uint64_t> parts) {
  uint64_t state = 0x2545F4914F6CDD1Dull;
  uint64_t out = 0;
  for (uint64_t p : parts) {
    state ^= p;
    out = splitmix64(state);
    state = out;
  }
  return out;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64(state_); }
  // Uniform in [0, n), n > 0 (Lemire 2019, rejection keeps it unbiased).
  uint64_t uniform(uint64_t n) {
    __uint128_t m = __uint128_t(next()) * n;
    uint64_t low = uint64_t(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = __uint128_t(next()) * n;
        low = uint64_t(m);
      }
    }
    return uint64_t(m >> 64);
  }
  double uniform01() { return double(next() >> 11) * 0x1.0p-53; }
  // Fisher-Yates: every permutation equally likely.
  template <typename T>
  void shuffle(std::span<T> items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform(i)]);
  }

 private:
  uint64_t state_;
};

}  // namespace t5::data
