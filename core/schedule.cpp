// Learning-rate schedules (SPEC.md §7). rsqrt follows T5's `rsqrt_decay` with a constant warm-up
// plateau; cosine follows nanoT5's linear warm-up then cosine decay to a floor.
#include "core/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace t5 {

const char* to_string(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::rsqrt: return "rsqrt";
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::cosine: return "cosine";
  }
  return "?";
}

ScheduleKind parse_schedule_kind(const std::string& text) {
  for (ScheduleKind k : {ScheduleKind::rsqrt, ScheduleKind::constant, ScheduleKind::cosine})
    if (text == to_string(k)) return k;
  throw Error(fmt::format("unknown schedule '{}'", text), "use rsqrt, constant or cosine");
}

double learning_rate(const ScheduleConfig& c, int64_t step) {
  const double t = double(std::max<int64_t>(step, 0));
  const double warmup = double(std::max<int64_t>(c.warmup_steps, 0));
  switch (c.kind) {
    case ScheduleKind::constant:
      return c.lr;
    case ScheduleKind::rsqrt:
      // lr * sqrt(warmup) / sqrt(max(t, warmup)); with warmup 0 the plateau is one step long.
      return c.lr * std::sqrt(std::max(warmup, 1.0) / std::max({t, warmup, 1.0}));
    case ScheduleKind::cosine: {
      if (t < warmup) return c.lr * (t + 1.0) / warmup;   // reaches the peak at the last warm-up step
      const double span = double(std::max<int64_t>(c.total_steps - c.warmup_steps, 1));
      const double progress = std::min((t - warmup) / span, 1.0);
      const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
      return c.lr * (c.final_fraction + (1.0 - c.final_fraction) * cosine);
    }
  }
  return c.lr;
}

int64_t scaled_warmup(int64_t total_steps) {
  const double w = std::round(double(kT5WarmupSteps) * double(total_steps) / double(kT5TotalSteps));
  return std::clamp<int64_t>(int64_t(w), 1, kT5WarmupSteps);
}

nlohmann::json schedule_config_to_json(const ScheduleConfig& c) {
  return {{"kind", to_string(c.kind)},
          {"lr", c.lr},
          {"warmup_steps", c.warmup_steps},
          {"total_steps", c.total_steps},
          {"final_fraction", c.final_fraction}};
}

ScheduleConfig schedule_config_from_json(const nlohmann::json& j, const std::string& where) {
  T5_CHECK(j.is_object(), "{}: schedule config must be a JSON object", where);
  ScheduleConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "kind") {
      T5_CHECK(value.is_string(), "{}: schedule.kind: expected a string", where);
      c.kind = parse_schedule_kind(value.get<std::string>());
    } else if (key == "lr" || key == "final_fraction") {
      T5_CHECK(value.is_number(), "{}: schedule.{}: expected a number", where, key);
      (key == "lr" ? c.lr : c.final_fraction) = value.get<double>();
    } else if (key == "warmup_steps" || key == "total_steps") {
      T5_CHECK(value.is_number_integer(), "{}: schedule.{}: expected an integer", where, key);
      (key == "warmup_steps" ? c.warmup_steps : c.total_steps) = value.get<int64_t>();
    } else {
      throw Error(fmt::format("{}: schedule.{}: unknown key", where, key),
                  "known keys: kind, lr, warmup_steps, total_steps, final_fraction");
    }
  }
  return c;
}

}  // namespace t5
