// The shape-name grammar of SPEC.md §1.
#include "core/names.h"

#include <charconv>
#include <filesystem>

#include "core/error.h"

namespace t5 {

namespace {

Shape make(int64_t el, int64_t dl, int64_t dm, int64_t ff, int64_t nh, int64_t kv, FeedForward kind,
           bool tied) {
  Shape s;
  s.el = el;
  s.dl = dl;
  s.dm = dm;
  s.ff = ff;
  s.nh = nh;
  s.kv = kv;
  s.feed_forward = kind;
  s.tied = tied;
  return s;
}

constexpr const char* kEfficientPrefix = "t5-efficient-";

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::vector<std::string> size_names() {
  std::vector<std::string> names;
  for (const auto& s : efficient_sizes()) names.push_back(s.size);
  return names;
}

std::vector<std::string> classic_names() {
  std::vector<std::string> names;
  for (const auto& s : classic_models()) names.push_back(s.size);
  return names;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// Applies one `<knob><value>` part, e.g. "dl4" or "ff2000".
void apply_knob(Shape& shape, const std::string& part, const std::string& name) {
  const std::string hint = fmt::format("knobs are {} followed by a positive integer, e.g. small-dl4",
                                       joined(shape_knobs()));
  T5_CHECK_HINT(part.size() >= 3, hint, "shape name '{}': part '{}' is not a <knob><value>", name, part);
  const std::string knob = part.substr(0, 2);
  const std::string digits = part.substr(2);
  bool known = false;
  for (const auto& k : shape_knobs()) known |= (k == knob);
  T5_CHECK_HINT(known, hint, "shape name '{}': unknown knob '{}' in part '{}'", name, knob, part);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  T5_CHECK_HINT(ec == std::errc() && end == digits.data() + digits.size() && digits[0] != '+', hint,
                "shape name '{}': value '{}' of knob '{}' is not a whole number", name, digits, knob);
  T5_CHECK_HINT(value > 0, hint, "shape name '{}': knob '{}' must be positive, got {}", name, knob, value);
  const bool width = knob == "dm" || knob == "ff" || knob == "kv";
  if (width && value >= 1000 && value % 1000 == 0) value = value / 1000 * 1024;
  if (knob == "el") shape.el = value;
  else if (knob == "dl") shape.dl = value;
  else if (knob == "nl") shape.el = shape.dl = value;
  else if (knob == "dm") shape.dm = value;
  else if (knob == "ff") shape.ff = value;
  else if (knob == "kv") shape.kv = value;
  else if (knob == "nh") shape.nh = value;
}

}  // namespace

const std::vector<NamedSize>& efficient_sizes() {
  static const std::vector<NamedSize> sizes = {
      {"tiny", make(4, 4, 256, 1024, 4, 64, FeedForward::relu, true)},
      {"mini", make(4, 4, 384, 1536, 8, 64, FeedForward::relu, true)},
      {"small", make(6, 6, 512, 2048, 8, 64, FeedForward::relu, true)},
      {"base", make(12, 12, 768, 3072, 12, 64, FeedForward::relu, true)},
      {"large", make(24, 24, 1024, 4096, 16, 64, FeedForward::relu, true)},
      {"xl", make(24, 24, 1024, 16384, 32, 128, FeedForward::relu, true)},
      {"xxl", make(24, 24, 1024, 65536, 128, 128, FeedForward::relu, true)},
  };
  return sizes;
}

const std::vector<NamedSize>& classic_models() {
  static const std::vector<NamedSize> models = {
      {"t5-small", make(6, 6, 512, 2048, 8, 64, FeedForward::relu, true)},
      {"t5-base", make(12, 12, 768, 3072, 12, 64, FeedForward::relu, true)},
      {"t5-large", make(24, 24, 1024, 4096, 16, 64, FeedForward::relu, true)},
      {"t5-3b", make(24, 24, 1024, 16384, 32, 128, FeedForward::relu, true)},
      {"t5-11b", make(24, 24, 1024, 65536, 128, 128, FeedForward::relu, true)},
      {"t5-v1_1-small", make(8, 8, 512, 1024, 6, 64, FeedForward::gated_gelu, false)},
      {"t5-v1_1-base", make(12, 12, 768, 2048, 12, 64, FeedForward::gated_gelu, false)},
      {"t5-v1_1-large", make(24, 24, 1024, 2816, 16, 64, FeedForward::gated_gelu, false)},
      {"t5-v1_1-xl", make(24, 24, 2048, 5120, 32, 64, FeedForward::gated_gelu, false)},
      {"t5-v1_1-xxl", make(24, 24, 4096, 10240, 64, 64, FeedForward::gated_gelu, false)},
  };
  return models;
}

const std::vector<std::string>& shape_knobs() {
  static const std::vector<std::string> knobs = {"el", "dl", "nl", "dm", "ff", "kv", "nh"};
  return knobs;
}

std::string short_name(const std::string& name) {
  if (name.rfind(kEfficientPrefix, 0) == 0) return name.substr(std::string(kEfficientPrefix).size());
  return name;
}

Shape parse_shape_name(const std::string& name) {
  const std::string hint = fmt::format("sizes are {} (optionally prefixed by t5-efficient-), or {}",
                                       joined(size_names()), joined(classic_names()));
  T5_CHECK_HINT(!name.empty(), hint, "empty shape name");
  // Classic families first: their names contain dashes of their own.
  for (const auto& model : classic_models()) {
    const std::string& base = model.size;
    if (name.rfind(base, 0) != 0) continue;
    if (name.size() != base.size() && name[base.size()] != '-') continue;
    Shape shape = model.shape;
    for (const auto& part : split(name.size() > base.size() ? name.substr(base.size() + 1) : "", '-'))
      if (!part.empty() || name.size() > base.size()) apply_knob(shape, part, name);
    shape.name = name;
    shape.validate();
    return shape;
  }
  const std::string body = short_name(name);
  const std::vector<std::string> parts = split(body, '-');
  const NamedSize* size = nullptr;
  for (const auto& s : efficient_sizes())
    if (s.size == parts[0]) size = &s;
  T5_CHECK_HINT(size != nullptr, hint, "shape name '{}': unknown size '{}'", name, parts[0]);
  Shape shape = size->shape;
  for (size_t i = 1; i < parts.size(); ++i) apply_knob(shape, parts[i], name);
  shape.name = name;
  shape.validate();
  return shape;
}

Shape resolve_shape(const std::string& argument) {
  namespace fs = std::filesystem;
  const bool looks_like_file = argument.size() > 5 && argument.substr(argument.size() - 5) == ".json";
  if (looks_like_file || (fs::exists(argument) && fs::is_regular_file(argument))) {
    Shape shape = load_shape_file(argument);
    if (shape.name.empty()) shape.name = fs::path(argument).stem().string();
    return shape;
  }
  return parse_shape_name(argument);
}

}  // namespace t5
