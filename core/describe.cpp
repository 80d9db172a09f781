#include "core/describe.h"

#include <cmath>

#include <fmt/format.h>

#include "core/names.h"

namespace t5 {

nlohmann::json describe_shape(const Shape& s, const Lengths& len) {
  const ParamBreakdown p = count_params(s);
  nlohmann::json j;
  j["name"] = s.name;
  j["el"] = s.el;
  j["dl"] = s.dl;
  j["dm"] = s.dm;
  j["ff"] = s.ff;
  j["kv"] = s.kv;
  j["nh"] = s.nh;
  j["inner"] = s.inner();
  j["vocab_size"] = s.vocab_size;
  j["feed_forward_proj"] = to_string(s.feed_forward);
  j["tie_word_embeddings"] = s.tied;
  j["shared_kv"] = s.shared_kv;        // skv
  j["shared_heads"] = s.shared_heads;  // sh
  j["params"] = p.total;
  j["params_breakdown"] = to_json(p);
  j["lengths"] = {{"inputs", len.inputs}, {"targets", len.targets}, {"batch", len.batch}};
  j["flops"] = to_json(count_flops(s, len));
  j["memory"] = to_json(estimate_memory(s, len));
  return j;
}

namespace {
// Divides `value` by 1000 until what would be printed of it (a whole number without a unit,
// `unit_decimals` decimals with one) is below 1000, or `max_unit` divisions were made; returns how
// many. Rounding first carries 999,999 to "1.00M" instead of "1000.00K".
int scale_by_thousands(double& value, int max_unit, int unit_decimals) {
  const auto shown = [&](int unit) {
    const double scale = unit == 0 ? 1.0 : std::pow(10.0, unit_decimals);
    return std::round(std::fabs(value) * scale) / scale;
  };
  int unit = 0;
  while (shown(unit) >= 1000.0 && unit < max_unit) {
    value /= 1000.0;
    ++unit;
  }
  return unit;
}
}  // namespace

std::string human_count(double value) {
  const char* units[] = {"", "K", "M", "G", "T", "P", "E"};
  const int u = scale_by_thousands(value, 6, 2);
  return u == 0 ? fmt::format("{:.0f}", value) : fmt::format("{:.2f}{}", value, units[u]);
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  const int u = scale_by_thousands(bytes, 5, 1);
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

namespace {
constexpr const char* kRowFormat = "{:<34} {:>3} {:>3} {:>5} {:>6} {:>4} {:>4} {:>10} {:>14} {:>10} {:>10} {:>10} {:>10} {:>10}";
}  // namespace

std::string describe_lengths(const Lengths& len) {
  return fmt::format(
      "lengths: inputs {}, targets {}, batch {}; FLOPs: exact matmul count (SPEC §3), 6N: Kaplan with "
      "non-embedding N; train mem: fp32 weights + grads + Adafactor state + activations",
      len.inputs, len.targets, len.batch);
}

std::string describe_header() {
  return fmt::format(kRowFormat, "name", "el", "dl", "dm", "ff", "kv", "nh", "ffn", "params", "fwd/ex",
                     "train/step", "6N/step", "fp32 wts", "train mem");
}

std::string describe_row(const Shape& s, const Lengths& len) {
  const FlopBreakdown f = count_flops(s, len);
  const MemoryEstimate m = estimate_memory(s, len);
  return fmt::format(kRowFormat, s.name, s.el, s.dl, s.dm, s.ff, s.kv, s.nh, to_string(s.feed_forward),
                     with_commas(count_params(s).total), human_count(f.forward_per_example),
                     human_count(f.train_per_step), human_count(f.kaplan_6n_per_step),
                     human_bytes(double(m.weights_fp32_bytes)), human_bytes(double(m.training_total_bytes)));
}

}  // namespace t5
