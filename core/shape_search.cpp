// Shapes within a budget (core/shape_search.h).
#include "core/shape_search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/names.h"

namespace t5 {

const std::vector<int64_t>& knob_grid(const std::string& knob) {
  static const std::map<std::string, std::vector<int64_t>> grids = {
      {"el", {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36, 48}},
      {"dl", {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36, 48}},
      {"nl", {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36, 48}},
      {"dm", {64, 128, 256, 384, 512, 768, 1024, 1536, 2048}},
      {"ff", {128, 256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 32768, 65536}},
      {"kv", {16, 32, 64, 128, 256}},
      {"nh", {1, 2, 4, 6, 8, 12, 16, 32, 64, 128}}};
  const auto it = grids.find(knob);
  if (it == grids.end())
    throw Error(fmt::format("unknown knob '{}'", knob), "use " + join_list(shape_knobs()));
  return it->second;
}

namespace {

int64_t& field(Shape& s, const std::string& knob) {
  if (knob == "el") return s.el;
  if (knob == "dl") return s.dl;
  if (knob == "dm") return s.dm;
  if (knob == "ff") return s.ff;
  if (knob == "kv") return s.kv;
  return s.nh;
}

int64_t value_of(Shape s, const std::string& knob) { return knob == "nl" ? s.el : field(s, knob); }

// The base's name with the searched knobs that differ from the base, in the grammar's order.
std::string name_of(const Shape& base, const Shape& s, const std::vector<std::string>& knobs) {
  std::string name = short_name(base.name);
  for (const std::string& knob : shape_knobs()) {
    if (std::find(knobs.begin(), knobs.end(), knob) == knobs.end()) continue;
    const bool differs = knob == "nl" ? (s.el != base.el || s.dl != base.dl) : value_of(s, knob) != value_of(base, knob);
    if (differs) name += fmt::format("-{}{}", knob, value_of(s, knob));
  }
  return name;
}

}  // namespace

std::vector<BudgetMatch> shapes_within_budget(const BudgetQuery& q) {
  T5_CHECK_HINT(q.target > 0 && std::isfinite(q.target), "for example --params 60M", "the budget must be positive, got {}",
                q.target);
  T5_CHECK_HINT(q.tolerance > 0 && q.tolerance < 1, "for example --tolerance 5%",
                "the tolerance must lie in (0, 100%), got {}", q.tolerance);
  T5_CHECK_HINT(!q.knobs.empty(), "for example --knobs nl,dm", "no knobs to search");
  std::set<std::string> seen;
  for (const std::string& knob : q.knobs) {
    (void)knob_grid(knob);  // unknown knobs fail here
    T5_CHECK(seen.insert(knob).second, "knob '{}' is listed twice", knob);
  }
  T5_CHECK_HINT(!(seen.count("nl") && (seen.count("el") || seen.count("dl"))), "search nl alone, or el and dl",
                "nl sets both el and dl: it cannot be searched together with el or dl");

  std::vector<BudgetMatch> matches;
  std::vector<size_t> at(q.knobs.size(), 0);  // an odometer over the knobs' grids
  while (true) {
    Shape s = q.base;
    for (size_t k = 0; k < q.knobs.size(); ++k) {
      const int64_t v = knob_grid(q.knobs[k])[at[k]];
      if (q.knobs[k] == "nl") s.el = s.dl = v;
      else field(s, q.knobs[k]) = v;
    }
    const double value = q.kind == ShapeBudget::params ? double(count_params(s).total)
                                                      : count_flops(s, q.lengths).train_per_step;
    const double error = value / q.target - 1.0;
    if (std::abs(error) <= q.tolerance) {
      s.name = name_of(q.base, s, q.knobs);
      matches.push_back({s, value, error});
    }
    size_t k = 0;
    while (k < at.size() && ++at[k] == knob_grid(q.knobs[k]).size()) at[k++] = 0;
    if (k == at.size()) break;
  }
  std::sort(matches.begin(), matches.end(), [](const BudgetMatch& a, const BudgetMatch& b) {
    const double ea = std::abs(a.relative_error), eb = std::abs(b.relative_error);
    return ea != eb ? ea < eb : a.shape.name < b.shape.name;
  });
  return matches;
}

namespace {
// The number `body` spells in full (std::stod reads a prefix), or NaN.
double whole_number(const std::string& body) {
  size_t used = 0;
  double value = std::nan("");
  try {
    value = std::stod(body, &used);
  } catch (const std::exception&) {
    return std::nan("");
  }
  return used == body.size() ? value : std::nan("");
}
}  // namespace

double parse_budget_number(const std::string& text, const std::string& what) {
  static const std::map<char, double> units = {{'K', 1e3}, {'M', 1e6}, {'G', 1e9}, {'T', 1e12}, {'P', 1e15}};
  std::string body = text;
  double scale = 1;
  if (!body.empty()) {
    const auto unit = units.find(char(std::toupper(static_cast<unsigned char>(body.back()))));
    if (unit != units.end()) scale = unit->second, body.pop_back();
  }
  const double value = whole_number(body);
  T5_CHECK_HINT(value > 0 && std::isfinite(value), "a positive number, optionally with K, M, G, T or P (60M, 1.5G, 2e9)",
                "{}: cannot read '{}'", what, text);
  return value * scale;
}

double parse_tolerance(const std::string& text, const std::string& what) {
  const bool percent = !text.empty() && text.back() == '%';
  const double value = whole_number(percent ? text.substr(0, text.size() - 1) : text) / (percent ? 100 : 1);
  T5_CHECK_HINT(value > 0 && value < 1, "for example 5% or 0.05", "{}: cannot read '{}' as a tolerance in (0, 100%)",
                what, text);
  return value;
}

}  // namespace t5
