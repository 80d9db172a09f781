// A per-component step profile behind `t5scale bench`'s breakdown (issue 6: "a per-layer breakdown").
// The model's serial driver (run() in core/model.cpp) carries a ProfileClock and calls lap() after
// each piece of work; the time since the previous lap goes to the named component and direction.
// Laps sit between the serial calls, never inside OpenMP regions, and only record while a
// ProfileScope has installed a StepProfile; otherwise each lap is one null check. The installed
// profile is a plain global: one profiled pass at a time, from one thread (the bench's driver).
// FLOPs per component are SPEC.md §3's terms (core/counts.h) times 3·batch, so they sum to
// flops_per_step exactly.
#pragma once

#include <array>
#include <cstdint>

#include "core/counts.h"

namespace t5 {

// Components summed over layers. The stack inputs include the relative-position bias; the output
// head includes the cross entropy over the vocabulary.
enum class StepComponent : int {
  encoder_embedding,
  encoder_self_attention,
  encoder_feed_forward,
  encoder_final_norm,
  decoder_embedding,
  decoder_self_attention,
  decoder_cross_attention,
  decoder_feed_forward,
  decoder_final_norm,
  output_head,
};
constexpr int kNumComponents = 10;
enum class Direction : int { forward, backward };

const char* to_string(StepComponent c);  // "encoder_self_attention", ...

// Matmul FLOPs of one training step (forward + backward = 3 × forward, SPEC.md §3) in component c.
double component_flops_per_step(StepComponent c, const FlopBreakdown& f, int64_t batch);

struct StepProfile {
  std::array<std::array<double, 2>, kNumComponents> seconds{};  // [component][direction]
  double& at(StepComponent c, Direction d) { return seconds[size_t(c)][size_t(d)]; }
  double at(StepComponent c, Direction d) const { return seconds[size_t(c)][size_t(d)]; }
  double total() const;  // over every component and direction
};

namespace detail {
inline StepProfile* g_active_profile = nullptr;  // set only by ProfileScope
}

// Installs `p` as the recording profile for its lifetime (profiles do not nest).
class ProfileScope {
 public:
  explicit ProfileScope(StepProfile& p);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;
};

// Lap timer of one pass: started at construction, each lap() charges the time since the last one.
class ProfileClock {
 public:
  ProfileClock();
  void lap(StepComponent c, Direction d) {
    if (profile_) charge(c, d);
  }

 private:
  void charge(StepComponent c, Direction d);
  StepProfile* profile_;
  double last_ = 0;
};

}  // namespace t5
