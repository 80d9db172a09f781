// Task preparation, split files and scoring (see tasks.h). The sources' formats are in task_sources.cpp,
// the metrics in metrics.cpp.
#include "downstream/tasks.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_file.h"
#include "downstream/metrics.h"
#include "downstream/task_sources.h"

namespace t5 {
namespace {
namespace fs = std::filesystem;

constexpr const char* kSplits[] = {"train", "validation", "test"};

std::string known_list() { return fmt::format("{}", fmt::join(known_tasks(), ", ")); }

size_t task_index(const std::string& name) {
  const auto& known = known_tasks();
  const auto it = std::find(known.begin(), known.end(), name);
  T5_CHECK_HINT(it != known.end(), "known tasks: " + known_list(), "unknown task '{}'", name);
  return size_t(it - known.begin());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  T5_CHECK(in.good(), "{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TaskSource read_task_source(const std::string& task, const TaskSourceDirs& dirs) {
  if (task == "supersense") return read_supersense_source(dirs.wordnet_dir);
  const std::string package = dirs.npm_dir + "/" + npm_packages_for({task}).at(0).directory + "/package";
  return task == "sentiment" ? read_sentiment_source(package) : read_g2p_source(package);
}

// A number in [0, bound) from one draw: the high half of draw * bound (Lemire), the same on every platform
// (std::uniform_int_distribution's algorithm is the library's choice).
uint64_t draw_below(std::mt19937_64& rng, uint64_t bound) {
  return uint64_t((static_cast<unsigned __int128>(rng()) * bound) >> 64);
}

// Units sorted by key, then a Fisher-Yates shuffle from the seed and the task's place in known_tasks()
// (so a task's split does not depend on which other tasks are prepared with it).
void shuffle_units(std::vector<SourceUnit>& units, uint64_t seed, const std::string& task) {
  std::sort(units.begin(), units.end(), [](const SourceUnit& a, const SourceUnit& b) { return a.key < b.key; });
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(task_index(task))};
  std::mt19937_64 rng(seq);
  for (size_t i = units.size(); i > 1; --i) std::swap(units[i - 1], units[draw_below(rng, i)]);
}

int64_t parse_size(const std::string& text, const std::string& where) {
  T5_CHECK(!text.empty() && text.size() <= 12 && text.find_first_not_of("0123456789") == std::string::npos,
           "--sizes: '{}' in '{}' is not a whole number", text, where);
  return std::stoll(text);
}

SplitSizes parse_triple(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  T5_CHECK_HINT(parts.size() == 3 && !text.ends_with("/"), "e.g. --sizes 20000/2000/2000 or --sizes g2p=2000/200/200",
                "--sizes: '{}' is not TRAIN/VALIDATION/TEST", text);
  const SplitSizes s{parse_size(parts[0], text), parse_size(parts[1], text), parse_size(parts[2], text)};
  T5_CHECK(s.train > 0 && s.validation > 0 && s.test > 0, "--sizes: '{}': every split needs at least one example",
           text);
  return s;
}

}  // namespace

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < bytes.size()) {   // zlib takes 32-bit lengths
    const size_t chunk = std::min<size_t>(bytes.size() - done, size_t(1) << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), uInt(chunk));
    done += chunk;
  }
  return uint32_t(crc);
}

// --- split files ------------------------------------------------------------------------------------

std::string task_example_line(const TaskExample& example) {
  try {
    return "{\"inputs\": " + nlohmann::json(example.inputs).dump() + ", \"targets\": " +
           nlohmann::json(example.targets).dump() + "}\n";
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("example '{}': not valid UTF-8 ({})", example.inputs.substr(0, 60),
                            json_error_text(e.what())));
  }
}

std::vector<TaskExample> read_task_split(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  T5_CHECK(in.good(), "{}: cannot open", path);
  std::vector<TaskExample> out;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    T5_CHECK(!trim_ascii_whitespace(line).empty(), "{}:{}: blank line (expected {{\"inputs\": ..., \"targets\": ...}})",
             path, line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}:{}: invalid JSON: {}", path, line_no, json_error_text(e.what())));
    }
    T5_CHECK(j.is_object(), "{}:{}: expected an object {{\"inputs\": ..., \"targets\": ...}}", path, line_no);
    for (const auto& [key, value] : j.items())
      T5_CHECK(key == "inputs" || key == "targets", "{}:{}: unknown key \"{}\" (expected \"inputs\" and \"targets\")",
               path, line_no, key);
    for (const char* key : {"inputs", "targets"}) {
      T5_CHECK(j.contains(key), "{}:{}: missing \"{}\"", path, line_no, key);
      T5_CHECK(j[key].is_string(), "{}:{}: \"{}\" is not a string", path, line_no, key);
      T5_CHECK(!j[key].get_ref<const std::string&>().empty(), "{}:{}: \"{}\" is empty", path, line_no, key);
    }
    out.push_back({j["inputs"].get<std::string>(), j["targets"].get<std::string>()});
  }
  T5_CHECK(!out.empty(), "{}: no examples (empty file)", path);
  return out;
}

// --- tasks and their metrics ------------------------------------------------------------------------

const std::vector<std::string>& known_tasks() {
  static const std::vector<std::string> names = {"sentiment", "supersense", "g2p"};
  return names;
}

TaskInfo task_info(const std::string& name) {
  task_index(name);
  if (name == "g2p") return {name, {"word_error_rate", "phoneme_error_rate"}, "word_error_rate", false};
  return {name, {"accuracy"}, "accuracy", true};
}

std::string task_prefix(const std::string& name) { return known_tasks().at(task_index(name)) + ": "; }

std::map<std::string, double> score_task(const std::string& task, const std::vector<std::string>& predictions,
                                         const std::vector<std::string>& targets) {
  const TaskInfo info = task_info(task);
  std::map<std::string, double> scores;
  for (const std::string& metric : info.metrics) {
    if (metric == "accuracy") scores[metric] = accuracy(predictions, targets);
    else if (metric == "word_error_rate") scores[metric] = word_error_rate(predictions, targets);
    else if (metric == "phoneme_error_rate") scores[metric] = phoneme_error_rate(predictions, targets);
  }
  return scores;
}

// --- options ----------------------------------------------------------------------------------------

SplitSizes default_split_sizes(const std::string& task) {
  task_index(task);
  if (task == "sentiment") return {20000, 300, 300};
  return {20000, 2000, 2000};
}

std::vector<std::string> parse_task_list(const std::string& text) {
  std::vector<std::string> tasks;
  std::stringstream ss(text);
  for (std::string name; std::getline(ss, name, ',');) {
    T5_CHECK_HINT(!name.empty(), "e.g. --tasks " + fmt::format("{}", fmt::join(known_tasks(), ",")),
                  "--tasks: empty name in '{}'", text);
    task_index(name);
    T5_CHECK(std::find(tasks.begin(), tasks.end(), name) == tasks.end(), "--tasks: '{}' named twice", name);
    tasks.push_back(name);
  }
  T5_CHECK_HINT(!tasks.empty() && !text.ends_with(","), "known tasks: " + known_list(), "--tasks: '{}' names no task",
                text);
  return tasks;
}

std::map<std::string, SplitSizes> parse_split_sizes(const std::string& text, const std::vector<std::string>& tasks) {
  std::map<std::string, SplitSizes> sizes;
  for (const std::string& task : tasks) sizes[task] = default_split_sizes(task);
  if (text.empty()) return sizes;
  if (text.find('=') == std::string::npos) {
    const SplitSizes all = parse_triple(text);
    for (auto& [task, s] : sizes) s = all;
    return sizes;
  }
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    const size_t eq = part.find('=');
    T5_CHECK_HINT(eq != std::string::npos, "e.g. --sizes sentiment=64/16/16,g2p=2000/200/200",
                  "--sizes: '{}' is not TASK=TRAIN/VALIDATION/TEST", part);
    const std::string task = part.substr(0, eq);
    task_index(task);
    T5_CHECK(sizes.count(task), "--sizes: '{}' is not among --tasks", task);
    sizes[task] = parse_triple(part.substr(eq + 1));
  }
  return sizes;
}

std::vector<NpmPackage> npm_packages_for(const std::vector<std::string>& tasks) {
  std::vector<NpmPackage> packages;
  for (const std::string& task : tasks) {
    task_index(task);
    if (task == "sentiment") packages.push_back({"sentiment@5.0.2", "sentiment_5.0.2"});
    if (task == "g2p") packages.push_back({"cmu-pronouncing-dictionary@3.0.0", "cmu-pronouncing-dictionary_3.0.0"});
  }
  return packages;
}

// --- preparation ------------------------------------------------------------------------------------

std::map<std::string, nlohmann::json> prepare_tasks(const TaskPrepareConfig& config) {
  T5_CHECK(!config.tasks.empty(), "no task to prepare");
  std::map<std::string, nlohmann::json> manifests;
  std::vector<std::pair<std::string, FileFill>> files;
  for (const std::string& task : config.tasks) {
    const SplitSizes sizes = config.sizes.count(task) ? config.sizes.at(task) : default_split_sizes(task);
    TaskSource source = read_task_source(task, config.sources);
    const int64_t units = int64_t(source.units.size());
    T5_CHECK_HINT(units >= sizes.validation + sizes.test + 1, "ask for fewer with --sizes",
                  "{}: the source has {} examples, too few for {} validation + {} test + some train", task, units,
                  sizes.validation, sizes.test);
    shuffle_units(source.units, config.seed, task);
    // validation first, then test, then train: the held-out splits do not move when --sizes changes train.
    const int64_t counts[] = {std::min(sizes.train, units - sizes.validation - sizes.test), sizes.validation,
                              sizes.test};
    const int64_t begins[] = {sizes.validation + sizes.test, 0, sizes.validation};
    const TaskInfo info = task_info(task);
    nlohmann::json manifest = {
        {"schema_version", 1},
        {"task", task},
        {"prefix", task_prefix(task)},
        {"metrics", info.metrics},
        {"primary_metric", info.primary_metric},
        {"higher_is_better", info.higher_is_better},
        {"seed", config.seed},
        {"sizes_requested", {{"train", sizes.train}, {"validation", sizes.validation}, {"test", sizes.test}}},
        {"split_rule", "source units sorted by key, shuffled (mt19937_64, seed_seq{seed lo, seed hi, task index}, "
                       "Fisher-Yates); validation = the first, test = the next, train = the next up to its size"},
        {"source", source.provenance},
        {"files", nlohmann::json::array()}};
    const std::string dir = config.out_dir + "/" + task;
    for (int s = 0; s < 3; ++s) {
      std::string text;
      for (int64_t i = begins[s]; i < begins[s] + counts[s]; ++i) text += task_example_line(source.units[size_t(i)].example);
      const std::string name = std::string(kSplits[s]) + ".jsonl";
      manifest["files"].push_back({{"path", name}, {"split", kSplits[s]}, {"examples", counts[s]},
                                   {"bytes", text.size()}, {"crc32", crc32_of(text)}});
      files.push_back({dir + "/" + name, text_fill(text)});
    }
    files.push_back({dir + "/manifest.json", text_fill(manifest.dump(2) + "\n")});
    manifests[task] = std::move(manifest);
  }
  // Every source read and split before anything is written; then all files or none.
  for (const std::string& task : config.tasks) {
    const fs::path dir = fs::path(config.out_dir) / task;
    std::error_code ec;
    fs::create_directories(dir, ec);
    T5_CHECK(!ec && fs::is_directory(dir), "{}: cannot create the directory ({})", dir.string(), ec.message());
  }
  write_files_atomic(files);
  return manifests;
}

nlohmann::json verify_task_dir(const std::string& task_dir) {
  const std::string manifest_path = task_dir + "/manifest.json";
  const nlohmann::json manifest = read_json_file(manifest_path);
  T5_CHECK(manifest.is_object() && manifest.contains("files") && manifest["files"].is_array() &&
               manifest["files"].size() == 3,
           "{}: expected \"files\" listing train, validation and test", manifest_path);
  for (const nlohmann::json& f : manifest["files"]) try {
    T5_CHECK(f.is_object() && f.value("path", "").ends_with(".jsonl") && f.value("bytes", int64_t(-1)) >= 0 &&
                 f.value("crc32", int64_t(-1)) >= 0 && f.value("examples", int64_t(-1)) >= 0,
             "{}: a \"files\" entry lacks path, bytes, crc32 or examples", manifest_path);
    const std::string path = task_dir + "/" + f["path"].get<std::string>();
    const size_t examples = read_task_split(path).size();   // a malformed line: its FILE:LINE first
    const std::string bytes = read_bytes(path);
    T5_CHECK(bytes.size() == f["bytes"].get<uint64_t>() && crc32_of(bytes) == f["crc32"].get<uint32_t>(),
             "{}: size or CRC-32 differs from {} (file changed)", path, manifest_path);
    T5_CHECK(examples == f["examples"].get<size_t>(), "{}: {} examples, {} says {}", path, examples, manifest_path,
             f["examples"].get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: a \"files\" entry is malformed: {}", manifest_path, json_error_text(e.what())));
  }
  return manifest;
}

}  // namespace t5
