// Shapes within a budget (issue 16, "budget-matched grids"): every shape on a grid of the knobs'
// usual values whose exact parameter count (SPEC §2) or exact training FLOPs per step (SPEC §3) lie
// within a tolerance of a target, so that "deep-narrow against wide at equal parameters" is one query.
// The knobs not searched keep the base shape's values. Names are the paper's grammar on top of the
// base (`small-nl12-dm384`), and they parse back to the same shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/counts.h"
#include "core/shape.h"

namespace t5 {

// The values a knob takes on the search grid: the depths, widths, head sizes and head counts of the
// released t5-efficient checkpoints (SPEC §1), plus the small ones CPU studies use.
const std::vector<int64_t>& knob_grid(const std::string& knob);

enum class ShapeBudget { params, flops };  // exact parameters, or training FLOPs per step at `lengths`

struct BudgetQuery {
  ShapeBudget kind = ShapeBudget::params;
  double target = 0;
  double tolerance = 0.05;               // |value / target − 1| at most this
  std::vector<std::string> knobs;        // of el, dl, nl, dm, ff, kv, nh; nl excludes el and dl
  Shape base;                            // a parsed shape name (its name is the names' prefix)
  Lengths lengths;                       // for FLOPs
};

struct BudgetMatch {
  Shape shape;                           // shape.name: base name plus the knobs that differ from it
  double value = 0;                      // its parameters or training FLOPs per step
  double relative_error = 0;             // value / target − 1
};

// Every grid shape within the tolerance, nearest the target first (then by name). Throws t5::Error
// for an unknown or repeated knob, nl together with el or dl, a non-positive target or tolerance.
std::vector<BudgetMatch> shapes_within_budget(const BudgetQuery& query);

// "60M", "1.5G", "2e9", "125000000" -> a positive number (K, M, G, T, P are powers of 1000); throws
// t5::Error naming `what` otherwise. "5%" or "0.05" -> 0.05 for tolerances.
double parse_budget_number(const std::string& text, const std::string& what);
double parse_tolerance(const std::string& text, const std::string& what);

}  // namespace t5
