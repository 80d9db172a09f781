// Learning-rate schedules of SPEC.md §7: T5's inverse square root with a constant warm-up plateau
// (Mesh TF / T5 `learning_rate_schedule_noam`-style rsqrt: 1/sqrt(max(t, 10000))), constant, and
// linear warm-up + cosine decay to a final fraction (as nanoT5 uses with AdamW). t is 0-based.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace t5 {

enum class ScheduleKind { rsqrt, constant, cosine };
const char* to_string(ScheduleKind k);
ScheduleKind parse_schedule_kind(const std::string& text);   // "rsqrt" | "constant" | "cosine"

// The T5 recipe: 10,000 warm-up steps of 524,288 at peak 0.01 (SPEC.md §7).
constexpr int64_t kT5WarmupSteps = 10000;
constexpr int64_t kT5TotalSteps = 524288;

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::rsqrt;
  // Peak learning rate. rsqrt: lr(t) = lr * sqrt(warmup / max(t, warmup)), i.e. the scale factor
  // of 1/sqrt(max(t, warmup)) is lr * sqrt(warmup); T5's lr 0.01 with warmup 10000 gives exactly
  // 1/sqrt(max(t, 10000)).
  double lr = 0.01;
  int64_t warmup_steps = kT5WarmupSteps;   // rsqrt: plateau length; cosine: linear ramp length
  int64_t total_steps = kT5TotalSteps;     // cosine: decay ends here
  double final_fraction = 0.0;             // cosine: lr at total_steps as a fraction of the peak
};

double learning_rate(const ScheduleConfig& config, int64_t step);

// Warm-up for a run of `total_steps`, scaled from T5's 10,000 of 524,288 (at least 1 step), so a
// short run sees the same schedule shape compressed in time.
int64_t scaled_warmup(int64_t total_steps);

nlohmann::json schedule_config_to_json(const ScheduleConfig& c);
ScheduleConfig schedule_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace t5
