// Strict parsing of sweep specs and their pure expansion into variants (see spec.h).
#include "sweeps/spec.h"

#include <cmath>
#include <fstream>
#include <set>

#include "core/describe.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/names.h"
#include "downstream/tasks.h"

namespace t5 {

using nlohmann::json;

const char* to_string(BudgetKind kind) {
  switch (kind) {
    case BudgetKind::steps: return "steps";
    case BudgetKind::tokens: return "tokens";
    case BudgetKind::flops: return "flops";
  }
  return "?";
}

namespace {

// A JSON object read strictly: every key must be consumed or known, values type-checked, and every
// error names the file and the key path ("grid.nl[2]").
class Reader {
 public:
  Reader(const json& j, std::string where, std::string path, std::set<std::string> known)
      : j_(j), where_(std::move(where)), path_(std::move(path)) {
    T5_CHECK(j.is_object(), "{}: {} must be a JSON object, got {}", where_, label(), j.type_name());
    for (const auto& [key, value] : j.items()) {
      if (known.count(key)) continue;
      std::string valid;
      for (const auto& k : known) valid += (valid.empty() ? "" : ", ") + k;
      throw Error(fmt::format("{}: unknown key '{}'", where_, full(key)), "valid keys here: " + valid);
    }
  }
  bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const json& at(const std::string& key) const {
    T5_CHECK(j_.contains(key), "{}: missing required key '{}'", where_, full(key));
    return j_.at(key);
  }
  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string label() const { return path_.empty() ? "the spec" : "key '" + path_ + "'"; }
  const std::string& where() const { return where_; }

  int64_t integer(const std::string& key, int64_t min) const {
    const json& v = at(key);
    T5_CHECK(v.is_number_integer(), "{}: key '{}' must be an integer, got {}", where_, full(key), v.dump());
    const int64_t x = v.get<int64_t>();
    T5_CHECK(x >= min, "{}: key '{}' must be at least {}, got {}", where_, full(key), min, x);
    return x;
  }
  double number(const std::string& key, double min, bool min_exclusive) const {
    const json& v = at(key);
    T5_CHECK(v.is_number(), "{}: key '{}' must be a number, got {}", where_, full(key), v.dump());
    const double x = v.get<double>();
    T5_CHECK(std::isfinite(x) && (min_exclusive ? x > min : x >= min), "{}: key '{}' must be {} {}, got {}",
             where_, full(key), min_exclusive ? "greater than" : "at least", min, v.dump());
    return x;
  }
  std::string string(const std::string& key, const std::set<std::string>& allowed = {}) const {
    const json& v = at(key);
    T5_CHECK(v.is_string(), "{}: key '{}' must be a string, got {}", where_, full(key), v.dump());
    const std::string s = v.get<std::string>();
    if (!allowed.empty() && !allowed.count(s)) {
      std::string valid;
      for (const auto& a : allowed) valid += (valid.empty() ? "" : ", ") + a;
      throw Error(fmt::format("{}: key '{}': invalid value '{}'", where_, full(key), s), "use one of " + valid);
    }
    return s;
  }
  bool boolean(const std::string& key) const {
    const json& v = at(key);
    T5_CHECK(v.is_boolean(), "{}: key '{}' must be true or false, got {}", where_, full(key), v.dump());
    return v.get<bool>();
  }
  const json& array(const std::string& key) const {
    const json& v = at(key);
    T5_CHECK(v.is_array() && !v.empty(), "{}: key '{}' must be a non-empty array, got {}", where_, full(key),
             v.dump());
    return v;
  }
  Reader object(const std::string& key, std::set<std::string> known) const {
    return Reader(at(key), where_, full(key), std::move(known));
  }

 private:
  const json& j_;
  std::string where_;
  std::string path_;
};

const std::vector<std::string>& grid_keys() {
  static const std::vector<std::string> keys = {"el", "dl", "nl", "dm", "ff", "kv", "nh", "sh", "skv",
                                                "feed_forward_proj", "tie_word_embeddings"};
  return keys;
}

bool is_width_knob(const std::string& knob) { return knob == "dm" || knob == "ff" || knob == "kv"; }
// The shape-name flags (core/names.h) as grid axes: booleans; true writes the flag into the id.
bool is_flag_axis(const std::string& key) { return key == "sh" || key == "skv"; }

GridAxis parse_axis(const Reader& grid, const std::string& key) {
  GridAxis axis{key, {}};
  const json& values = grid.array(key);
  std::set<std::string> seen;
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = values[i];
    const std::string place = fmt::format("{}[{}]", grid.full(key), i);
    if (key == "feed_forward_proj") {
      T5_CHECK_HINT(v.is_string() && (v == "relu" || v == "gated-gelu"), "use \"relu\" or \"gated-gelu\"",
                    "{}: key '{}': invalid feed-forward kind {}", grid.where(), place, v.dump());
    } else if (key == "tie_word_embeddings" || is_flag_axis(key)) {
      T5_CHECK(v.is_boolean(), "{}: key '{}' must be true or false, got {}", grid.where(), place, v.dump());
    } else {
      // Non-positive values are legal here: expansion lists them as impossible shapes with the reason.
      T5_CHECK(v.is_number_integer(), "{}: key '{}' must be an integer, got {}", grid.where(), place, v.dump());
    }
    T5_CHECK(seen.insert(v.dump()).second, "{}: key '{}': value {} is repeated", grid.where(), place, v.dump());
    axis.values.push_back(v);
  }
  return axis;
}

void parse_data(const Reader& r, DataSpec& d) {
  if (r.has("source")) d.source = r.string("source", {"c4", "synthetic"});
  if (d.source == "c4") {
    d.corpus = r.string("corpus");
    d.tokenizer = r.string("tokenizer");
  } else {
    T5_CHECK(!r.has("corpus") && !r.has("tokenizer"), "{}: key '{}': a synthetic source takes no corpus or tokenizer",
             r.where(), r.full("source"));
  }
  if (r.has("train_split")) d.train_split = r.string("train_split", {"train", "validation"});
  if (r.has("eval_split")) d.eval_split = r.string("eval_split", {"train", "validation"});
  if (r.has("noise_density")) d.noise_density = r.number("noise_density", 0.0, true);
  T5_CHECK(d.noise_density < 1.0, "{}: key '{}' must be below 1, got {}", r.where(), r.full("noise_density"),
           d.noise_density);
  if (r.has("mean_noise_span_length")) d.mean_noise_span_length = r.number("mean_noise_span_length", 1.0, false);
  if (r.has("packed")) d.packed = r.boolean("packed");
}

void parse_settings(const Reader& r, RunSettings& s) {
  const Reader budget = r.object("budget", {"steps", "tokens", "flops"});
  int given = 0;
  for (BudgetKind kind : {BudgetKind::steps, BudgetKind::tokens, BudgetKind::flops}) {
    const std::string key = to_string(kind);
    if (!budget.has(key)) continue;
    ++given;
    s.budget.kind = kind;
    s.budget.value = kind == BudgetKind::steps ? double(budget.integer(key, 1)) : budget.number(key, 0.0, true);
  }
  T5_CHECK_HINT(given == 1, "e.g. \"budget\": {\"steps\": 200}", "{}: key 'budget' must give exactly one of steps, tokens, flops",
                r.where());
  s.batch = r.integer("batch", 1);
  s.inputs_length = r.integer("inputs_length", 1);
  s.targets_length = r.integer("targets_length", 1);
  if (r.has("optimizer")) s.optimizer = r.string("optimizer", {"adafactor", "adamw"});
  if (r.has("schedule")) s.schedule = r.string("schedule", {"rsqrt", "constant", "cosine"});
  if (r.has("lr")) s.lr = r.number("lr", 0.0, true);
  if (r.has("warmup_steps")) s.warmup_steps = r.integer("warmup_steps", 0);
  if (r.has("weight_decay")) s.weight_decay = r.number("weight_decay", 0.0, false);
  if (r.has("max_grad_norm")) s.max_grad_norm = r.number("max_grad_norm", 0.0, false);
  if (r.has("z_loss")) s.z_loss = r.number("z_loss", 0.0, false);
  if (r.has("eval")) {
    const Reader eval = r.object("eval", {"every", "batches"});
    if (eval.has("every")) s.eval_every = eval.integer("every", 0);
    if (eval.has("batches")) s.eval_batches = eval.integer("batches", 1);
  }
  if (r.has("checkpoint_every")) s.checkpoint_every = r.integer("checkpoint_every", 0);
  if (r.has("threads")) s.threads = r.integer("threads", 1);
  if (r.has("precision")) s.precision = r.string("precision", {"fp32", "bf16"});
  parse_data(r.object("data", {"source", "corpus", "tokenizer", "train_split", "eval_split", "noise_density",
                               "mean_noise_span_length", "packed"}),
             s.data);
}

// A non-empty array of distinct non-negative integers (seeds).
std::vector<uint64_t> parse_seeds(const Reader& r, const std::string& key) {
  const json& seeds = r.array(key);
  std::vector<uint64_t> out;
  std::set<uint64_t> seen;
  for (size_t i = 0; i < seeds.size(); ++i) {
    T5_CHECK(seeds[i].is_number_integer() && seeds[i].get<int64_t>() >= 0,
             "{}: key '{}[{}]' must be a non-negative integer, got {}", r.where(), r.full(key), i, seeds[i].dump());
    const uint64_t s = seeds[i].get<uint64_t>();
    T5_CHECK(seen.insert(s).second, "{}: key '{}[{}]': seed {} is repeated", r.where(), r.full(key), i, s);
    out.push_back(s);
  }
  return out;
}

void parse_downstream(const Reader& r, DownstreamSpec& d) {
  const json& tasks = r.array("tasks");
  std::set<std::string> seen;
  for (size_t i = 0; i < tasks.size(); ++i) {
    T5_CHECK(tasks[i].is_string(), "{}: key '{}[{}]' must be a task name, got {}", r.where(), r.full("tasks"), i,
             tasks[i].dump());
    const std::string name = tasks[i].get<std::string>();
    try {
      task_info(name);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: key '{}[{}]': {}", r.where(), r.full("tasks"), i, e.message()), e.hint());
    }
    T5_CHECK(seen.insert(name).second, "{}: key '{}[{}]': task {} is repeated", r.where(), r.full("tasks"), i, name);
    d.tasks.push_back(name);
  }
  if (r.has("tasks_dir")) d.tasks_dir = r.string("tasks_dir");
  if (r.has("tokenizer")) d.tokenizer = r.string("tokenizer");
  if (r.has("steps")) d.steps = r.integer("steps", 1);
  if (r.has("batch")) d.batch = r.integer("batch", 1);
  if (r.has("inputs_length")) d.inputs_length = r.integer("inputs_length", 2);
  if (r.has("targets_length")) d.targets_length = r.integer("targets_length", 2);
  if (r.has("optimizer")) d.optimizer = r.string("optimizer", {"adafactor", "adamw"});
  if (r.has("schedule")) d.schedule = r.string("schedule", {"rsqrt", "constant", "cosine"});
  if (r.has("lr")) d.lr = r.number("lr", 0.0, true);
  if (r.has("dropout")) d.dropout = r.number("dropout", 0.0, false);
  T5_CHECK(d.dropout < 1.0, "{}: key '{}' must be below 1, got {}", r.where(), r.full("dropout"), d.dropout);
  if (r.has("eval_every")) d.eval_every = r.integer("eval_every", 0);
  if (r.has("max_eval_examples")) d.max_eval_examples = r.integer("max_eval_examples", 0);
  if (r.has("beam")) d.beam = r.integer("beam", 1);
  if (r.has("seeds")) d.seeds = parse_seeds(r, "seeds");
  if (r.has("from_scratch")) d.from_scratch = r.boolean("from_scratch");
}

std::string seed_suffix(uint64_t seed) { return fmt::format("-s{}", seed); }

// The id part of one grid coordinate.
std::string axis_token(const std::string& key, const json& value) {
  if (key == "feed_forward_proj") return value == "gated-gelu" ? "gated" : "relu";
  if (key == "tie_word_embeddings") return value.get<bool>() ? "tied" : "untied";
  if (is_flag_axis(key)) return value.get<bool>() ? key : "";   // false: no part (the base's own setting)
  return knob_token(key, value.get<int64_t>());
}

void apply_axis(Shape& shape, const std::string& key, const json& value) {
  if (key == "feed_forward_proj") shape.feed_forward = parse_feed_forward(value.get<std::string>());
  else if (key == "tie_word_embeddings") shape.tied = value.get<bool>();
  else if (key == "sh") shape.shared_heads = value.get<bool>();
  else if (key == "skv") shape.shared_kv = value.get<bool>();
  else {
    const int64_t v = value.get<int64_t>();
    if (key == "el") shape.el = v;
    else if (key == "dl") shape.dl = v;
    else if (key == "nl") shape.el = shape.dl = v;
    else if (key == "dm") shape.dm = v;
    else if (key == "ff") shape.ff = v;
    else if (key == "kv") shape.kv = v;
    else if (key == "nh") shape.nh = v;
  }
}

// One candidate before checks: its id without seed, its shape (maybe invalid) and coordinates.
struct Candidate {
  std::string shape_id;
  Shape shape;
  json coordinates = json::object();
  std::string problem;   // non-empty: why the id cannot be written
};

std::vector<Candidate> grid_candidates(const SweepSpec& spec) {
  const Shape base = parse_shape_name(spec.base);
  std::vector<Candidate> out;
  std::vector<size_t> index(spec.grid.size(), 0);
  while (true) {
    Candidate c{short_name(spec.base), base, json::object(), {}};
    for (size_t a = 0; a < spec.grid.size(); ++a) {
      const GridAxis& axis = spec.grid[a];
      const json& value = axis.values[index[a]];
      c.coordinates[axis.key] = value;
      const bool integer_knob = value.is_number_integer();
      if (integer_knob && value.get<int64_t>() <= 0) {
        if (c.problem.empty()) c.problem = fmt::format("{} must be positive, got {}", axis.key, value.get<int64_t>());
        c.shape_id += fmt::format("-{}{}", axis.key, value.get<int64_t>());
        continue;
      }
      const std::string token = axis_token(axis.key, value);
      if (is_flag_axis(axis.key) && token.empty()) {
        // A name cannot remove a flag: a base that has it cannot be swept to false.
        const bool base_has = axis.key == "sh" ? base.shared_heads : base.shared_kv;
        if (base_has && c.problem.empty())
          c.problem = fmt::format("{} = false cannot be written: the base '{}' has the flag", axis.key, spec.base);
        apply_axis(c.shape, axis.key, value);
        continue;
      }
      if (token.empty()) {
        if (c.problem.empty()) c.problem = fmt::format("{} = {} cannot be written in the shape-name grammar (widths that are multiples "
                                "of 1000 read as multiples of 1024)", axis.key, value.get<int64_t>());
        c.shape_id += fmt::format("-{}{}", axis.key, value.get<int64_t>());
        continue;
      }
      c.shape_id += "-" + token;
      apply_axis(c.shape, axis.key, value);
    }
    out.push_back(std::move(c));
    // Odometer: the last axis moves fastest.
    size_t a = spec.grid.size();
    while (a > 0) {
      --a;
      if (++index[a] < spec.grid[a].values.size()) break;
      index[a] = 0;
      if (a == 0) return out;
    }
    if (spec.grid.empty()) return out;
  }
}

std::vector<Candidate> list_candidates(const SweepSpec& spec) {
  std::vector<Candidate> out;
  for (const auto& name : spec.shapes) {
    Candidate c{short_name(name), {}, json::object(), {}};
    try {
      c.shape = parse_shape_name(name);
    } catch (const Error& e) {
      c.problem = e.message();
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::string knob_token(const std::string& knob, int64_t value) {
  if (is_width_knob(knob) && value >= 1000 && value % 1000 == 0 && value % 1024 != 0) return "";
  if (is_width_knob(knob) && value >= 1024 && value % 1024 == 0) return fmt::format("{}{}", knob, value / 1024 * 1000);
  return fmt::format("{}{}", knob, value);
}

SweepSpec parse_sweep_spec(const json& j, const std::string& where) {
  const Reader r(j, where, "",
                 {"name", "description", "question", "base", "grid", "shapes", "seeds", "budget", "batch",
                  "inputs_length", "targets_length", "optimizer", "schedule", "lr", "warmup_steps", "weight_decay",
                  "max_grad_norm", "z_loss", "eval", "checkpoint_every", "threads", "precision",
                  "data", "downstream", "vocab_size"});
  SweepSpec spec;
  spec.path = where;
  spec.source = j;
  spec.name = r.string("name");
  T5_CHECK_HINT(!spec.name.empty() && spec.name.find_first_of("/\\ ") == std::string::npos &&
                    spec.name != "." && spec.name != "..",
                "use letters, digits, '-' and '_'", "{}: key 'name': '{}' is not usable as a directory name", where,
                spec.name);
  if (r.has("description")) spec.description = r.string("description");
  if (r.has("question")) spec.question = r.string("question");
  T5_CHECK_HINT(r.has("grid") != r.has("shapes"), "give \"base\" + \"grid\", or \"shapes\": [names]",
                "{}: give exactly one of 'grid' and 'shapes'", where);
  if (r.has("grid")) {
    spec.base = r.string("base");
    try {
      parse_shape_name(spec.base);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: key 'base': {}", where, e.message()), e.hint());
    }
    const std::set<std::string> known(grid_keys().begin(), grid_keys().end());
    const Reader grid = r.object("grid", known);
    for (const auto& key : grid_keys())
      if (grid.has(key)) spec.grid.push_back(parse_axis(grid, key));
    T5_CHECK(!spec.grid.empty(), "{}: key 'grid' names no axis", where);
    T5_CHECK_HINT(!(grid.has("nl") && (grid.has("el") || grid.has("dl"))),
                  "sweep nl alone, or el and dl", "{}: key 'grid': 'nl' sets el and dl; it cannot be combined with them",
                  where);
  } else {
    T5_CHECK(!r.has("base"), "{}: key 'base' is only used with 'grid'", where);
    const json& shapes = r.array("shapes");
    for (size_t i = 0; i < shapes.size(); ++i) {
      T5_CHECK(shapes[i].is_string(), "{}: key 'shapes[{}]' must be a shape name, got {}", where, i, shapes[i].dump());
      spec.shapes.push_back(shapes[i].get<std::string>());
    }
  }
  if (r.has("seeds")) spec.seeds = parse_seeds(r, "seeds");
  if (r.has("vocab_size")) spec.vocab_size = r.integer("vocab_size", 1);
  parse_settings(r, spec.settings);
  if (r.has("downstream")) {
    parse_downstream(r.object("downstream", {"tasks", "tasks_dir", "tokenizer", "steps", "batch", "inputs_length",
                                             "targets_length", "optimizer", "schedule", "lr", "dropout", "eval_every",
                                             "max_eval_examples", "beam", "seeds", "from_scratch"}),
                     spec.downstream);
    T5_CHECK_HINT(!spec.downstream.tokenizer.empty() || spec.settings.data.source == "c4",
                  "give \"downstream\": {\"tokenizer\": ...}: the synthetic pretraining data has none",
                  "{}: key 'downstream.tokenizer' is needed with synthetic pretraining data", where);
    if (spec.downstream.tokenizer.empty()) spec.downstream.tokenizer = spec.settings.data.tokenizer;
  }
  return spec;
}

SweepSpec load_sweep_spec(const std::string& path) {
  T5_CHECK_HINT(std::ifstream(path).good(), "sweeps/*.json hold the shipped specs", "{}: cannot open sweep spec", path);
  return parse_sweep_spec(read_json_file(path), path);
}

Lengths step_lengths(const RunSettings& s) {
  Lengths len;
  len.inputs = s.inputs_length;
  len.targets = s.targets_length;
  len.batch = s.batch;
  return len;
}

namespace {
// What one training step of `shape` costs in the budget's unit.
double step_cost(BudgetKind kind, const Shape& shape, const Lengths& len) {
  if (kind == BudgetKind::tokens) return double(len.batch * (len.inputs + len.targets));
  if (kind == BudgetKind::flops) return count_flops(shape, len).train_per_step;
  return 1.0;
}
}  // namespace

int64_t resolve_steps(const Budget& budget, const Shape& shape, const Lengths& len) {
  const double steps = budget.value / step_cost(budget.kind, shape, len);
  return std::max<int64_t>(0, int64_t(std::floor(steps + 1e-9)));
}

Expansion expand(const SweepSpec& spec, const ExpandOptions& options) {
  const std::vector<Candidate> candidates = spec.grid.empty() ? list_candidates(spec) : grid_candidates(spec);
  const Lengths len = step_lengths(spec.settings);
  Expansion out;
  std::set<std::string> ids;
  for (const auto& c : candidates) {
    std::string reason = c.problem;
    // The spec's vocab_size replaces every shape's (ids name the structure; the record holds the vocabulary).
    Shape shape = c.shape;
    if (spec.vocab_size > 0) shape.vocab_size = spec.vocab_size;
    if (reason.empty()) {
      try {
        shape.validate();
        const ParsedId back = parse_variant_id(c.shape_id);
        if (!back.shape.same_structure(c.shape)) reason = "its id does not parse back to the same shape";
      } catch (const Error& e) {
        reason = e.message();
      }
    }
    if (reason.empty() && options.memory_limit_bytes > 0) {
      const int64_t need = estimate_memory(shape, len, spec.settings.optimizer == "adamw" ? OptimizerKind::adamw
                                                                                          : OptimizerKind::adafactor)
                               .training_total_bytes;
      if (need > options.memory_limit_bytes)
        reason = fmt::format("training needs about {:.1f} GiB, more than the {:.1f} GiB available", need / 1073741824.0,
                             options.memory_limit_bytes / 1073741824.0);
    }
    const int64_t steps = reason.empty() ? resolve_steps(spec.settings.budget, shape, len) : 0;
    if (reason.empty() && steps == 0)
      reason = fmt::format("the budget of {} {} is less than one training step of this shape ({} {})",
                           human_count(spec.settings.budget.value), to_string(spec.settings.budget.kind),
                           human_count(step_cost(spec.settings.budget.kind, shape, len)),
                           to_string(spec.settings.budget.kind));
    for (uint64_t seed : spec.seeds) {
      const std::string id = c.shape_id + seed_suffix(seed);
      if (!reason.empty()) {
        out.skipped.push_back({id, reason});
        continue;
      }
      if (!ids.insert(id).second) {
        out.skipped.push_back({id, "duplicate of an earlier variant"});
        continue;
      }
      Variant v;
      v.id = id;
      v.shape_id = c.shape_id;
      v.shape = shape;
      v.shape.name = c.shape_id;
      v.seed = seed;
      v.steps = steps;
      v.coordinates = c.coordinates;
      out.variants.push_back(std::move(v));
    }
  }
  return out;
}

ParsedId parse_variant_id(const std::string& id) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = id.find('-', start);
    parts.push_back(id.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ParsedId out;
  const std::string& last = parts.back();
  if (parts.size() > 1 && last.size() > 1 && last[0] == 's' &&
      last.find_first_not_of("0123456789", 1) == std::string::npos) {
    out.seed = std::stoull(last.substr(1));
    parts.pop_back();
  }
  // Trailing flags for the two non-integer grid axes.
  std::optional<FeedForward> kind;
  std::optional<bool> tied;
  while (parts.size() > 1) {
    const std::string& p = parts.back();
    if (p == "gated" || p == "relu") kind = p == "gated" ? FeedForward::gated_gelu : FeedForward::relu;
    else if (p == "tied" || p == "untied") tied = p == "tied";
    else break;
    parts.pop_back();
  }
  std::string name;
  for (const auto& p : parts) name += (name.empty() ? "" : "-") + p;
  out.shape = parse_shape_name(name);
  if (kind) out.shape.feed_forward = *kind;
  if (tied) out.shape.tied = *tied;
  return out;
}

json to_json(const DownstreamSpec& d) {
  return {{"tasks", d.tasks},
          {"tasks_dir", d.tasks_dir},
          {"tokenizer", d.tokenizer},
          {"steps", d.steps},
          {"batch", d.batch},
          {"inputs_length", d.inputs_length},
          {"targets_length", d.targets_length},
          {"optimizer", d.optimizer},
          {"schedule", d.schedule},
          {"lr", d.lr},
          {"dropout", d.dropout},
          {"eval_every", d.eval_every},
          {"max_eval_examples", d.max_eval_examples},
          {"beam", d.beam},
          {"seeds", d.seeds},
          {"from_scratch", d.from_scratch}};
}

json to_json(const RunSettings& s) {
  return {{"budget", {{"kind", to_string(s.budget.kind)}, {"value", s.budget.value}}},
          {"batch", s.batch},
          {"inputs_length", s.inputs_length},
          {"targets_length", s.targets_length},
          {"optimizer", s.optimizer},
          {"schedule", s.schedule},
          {"lr", s.lr},
          {"warmup_steps", s.warmup_steps},
          {"weight_decay", s.weight_decay},
          {"max_grad_norm", s.max_grad_norm},
          {"z_loss", s.z_loss},
          {"eval_every", s.eval_every},
          {"eval_batches", s.eval_batches},
          {"threads", s.threads},
          {"precision", s.precision},
          {"data",
           {{"source", s.data.source},
            {"corpus", s.data.corpus},
            {"tokenizer", s.data.tokenizer},
            {"train_split", s.data.train_split},
            {"eval_split", s.data.eval_split},
            {"noise_density", s.data.noise_density},
            {"mean_noise_span_length", s.data.mean_noise_span_length},
            {"packed", s.data.packed}}}};
}

}  // namespace t5
