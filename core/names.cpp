// The shape-name grammar of SPEC.md §1.
#include "core/names.h"

#include <algorithm>
#include <cctype>
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
constexpr const char* kOwnerPrefix = "google/";

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

bool is_width_knob(const std::string& knob) { return knob == "dm" || knob == "ff" || knob == "kv"; }

std::string knob_hint() {
  return fmt::format("knobs are {} followed by a positive integer, e.g. small-dl4 or small-el16-dl8; flags "
                     "without a value: {} (small-skv)",
                     join_list(shape_knobs()), join_list(shape_flags()));
}

// Sets a flag part ("sh", "skv", or "shkv" for both); false if `part` is not a flag.
bool apply_flag(Shape& shape, const std::string& part) {
  if (part == "sh" || part == "shkv") shape.shared_heads = true;
  if (part == "skv" || part == "shkv") shape.shared_kv = true;
  return part == "sh" || part == "skv" || part == "shkv";
}

// Applies one non-empty `<knob><value>` part, e.g. "dl4" or "ff2000".
void apply_knob(Shape& shape, const std::string& part, const std::string& name) {
  const std::string hint = knob_hint();
  if (apply_flag(shape, part)) return;
  size_t letters = 0;
  while (letters < part.size() && std::isalpha(static_cast<unsigned char>(part[letters]))) ++letters;
  const std::string knob = part.substr(0, letters);
  const std::string digits = part.substr(letters);
  T5_CHECK_HINT(knob != "sh" && knob != "skv" && knob != "shkv", hint,
                "shape name '{}': flag '{}' takes no value, got '{}'", name, knob, part);
  T5_CHECK_HINT(std::find(shape_knobs().begin(), shape_knobs().end(), knob) != shape_knobs().end(), hint,
                "shape name '{}': unknown knob '{}' in part '{}'", name, knob, part);
  T5_CHECK_HINT(!digits.empty(), hint, "shape name '{}': knob '{}' has no value", name, knob);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  T5_CHECK_HINT(ec == std::errc() && end == digits.data() + digits.size(), hint,
                "shape name '{}': value '{}' of knob '{}' is not a whole number", name, digits, knob);
  T5_CHECK_HINT(value > 0, hint, "shape name '{}': knob '{}' must be positive, got {}", name, knob, value);
  T5_CHECK(value <= int64_t{1} << 40, "shape name '{}': value {} of knob '{}' is too large", name, value, knob);
  // The paper writes widths in thousands meaning multiples of 1024 (ff2000 = 2048, dm1000 = 1024).
  if (is_width_knob(knob) && value >= 1000 && value % 1000 == 0) value = value / 1000 * 1024;
  if (knob == "el") shape.el = value;
  else if (knob == "dl") shape.dl = value;
  else if (knob == "nl") shape.el = shape.dl = value;
  else if (knob == "dm") shape.dm = value;
  else if (knob == "ff") shape.ff = value;
  else if (knob == "kv") shape.kv = value;
  else if (knob == "nh") shape.nh = value;
}

// Applies the knob parts of `rest` (the text after "<size>-") left to right.
void apply_knobs(Shape& shape, const std::string& rest, const std::string& name) {
  const std::vector<std::string> parts = split(rest, '-');
  for (size_t i = 0; i < parts.size(); ++i) {
    T5_CHECK_HINT(!parts[i].empty(), knob_hint(), "shape name '{}': empty part after the size ({})", name,
                  i + 1 == parts.size() ? "trailing '-'" : "two '-' in a row");
    apply_knob(shape, parts[i], name);
  }
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

const std::vector<std::string>& shape_flags() {
  static const std::vector<std::string> flags = {"sh", "skv"};
  return flags;
}

std::vector<std::string> efficient_size_names() {
  std::vector<std::string> names;
  for (const auto& s : efficient_sizes()) names.push_back(s.size);
  return names;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string short_name(const std::string& name) {
  if (name.rfind(kEfficientPrefix, 0) == 0) return name.substr(std::string(kEfficientPrefix).size());
  return name;
}

Shape parse_shape_name(const std::string& name) {
  const std::string hint = fmt::format("sizes are {} (optionally prefixed by t5-efficient-), or {}",
                                       join_list(efficient_size_names()), join_list(classic_names()));
  T5_CHECK_HINT(!name.empty(), hint, "empty shape name");
  const std::string full = name.rfind(kOwnerPrefix, 0) == 0 ? name.substr(std::string(kOwnerPrefix).size()) : name;
  // Classic families first: their names contain dashes of their own. Knobs may follow them too.
  for (const auto& model : classic_models()) {
    const std::string& base = model.size;
    if (full.rfind(base, 0) != 0 || (full.size() != base.size() && full[base.size()] != '-')) continue;
    Shape shape = model.shape;
    if (full.size() > base.size()) apply_knobs(shape, full.substr(base.size() + 1), name);
    shape.name = name;
    shape.validate();
    return shape;
  }
  const std::string body = short_name(full);
  const size_t dash = body.find('-');
  const std::string size_part = body.substr(0, dash);
  const NamedSize* size = nullptr;
  for (const auto& s : efficient_sizes())
    if (s.size == size_part) size = &s;
  if (size == nullptr && body.rfind("t5-", 0) == 0)
    throw Error(fmt::format("shape name '{}': unknown model '{}'", name, body), hint);
  T5_CHECK_HINT(size != nullptr, hint, "shape name '{}': unknown size '{}'", name, size_part);
  Shape shape = size->shape;
  if (dash != std::string::npos) apply_knobs(shape, body.substr(dash + 1), name);
  shape.name = name;
  shape.validate();
  return shape;
}

Shape resolve_shape(const std::string& argument) {
  namespace fs = std::filesystem;
  // A Hugging Face checkpoint directory: its config.json.
  if (fs::is_directory(argument)) {
    const fs::path config = fs::path(argument) / "config.json";
    T5_CHECK_HINT(fs::is_regular_file(config), "give a shape name, a .json file or a directory with config.json",
                  "{}: directory has no config.json", argument);
    Shape shape = load_shape_file(config.string());
    if (shape.name.empty()) shape.name = fs::path(argument).filename().string();
    return shape;
  }
  const bool looks_like_file = argument.size() > 5 && argument.substr(argument.size() - 5) == ".json";
  if (looks_like_file || fs::is_regular_file(argument)) {
    Shape shape = load_shape_file(argument);
    if (shape.name.empty()) shape.name = fs::path(argument).stem().string();
    return shape;
  }
  return parse_shape_name(argument);
}

}  // namespace t5
