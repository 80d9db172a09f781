// The downstream text-to-text tasks (issue 14): preparing them from the public sources, reading their
// split files, and scoring decoded predictions with each task's metrics.
//
//   sentiment   UCI Sentiment Labelled Sentences (Kotzias et al. 2015), npm sentiment@5.0.2
//               "sentiment: <sentence>" -> "positive" | "negative"            accuracy
//   supersense  WordNet 3.0 synset gloss -> lexicographer file (45 classes), Debian wordnet-base
//               "supersense: <gloss>" -> "noun.animal", "verb.motion", ...  accuracy
//   g2p         CMU Pronouncing Dictionary, npm cmu-pronouncing-dictionary@3.0.0
//               "g2p: <word>" -> "<ARPAbet phonemes>"                       word error rate, phoneme error rate
//
// A prepared task is DIR/<task>/{train,validation,test}.jsonl, one {"inputs": ..., "targets": ...} a
// line, and DIR/<task>/manifest.json (source, version, licence, seed, counts, bytes and CRC-32 of every
// file). Each example comes from one source unit (a deduplicated sentence, a synset, a word), so no unit
// is in two splits. The split is a seeded shuffle of the units sorted by their key; the bytes depend on
// the source files, the sizes and the seed only (task_sources.cpp reads the sources).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

struct TaskExample {
  std::string inputs;
  std::string targets;
  bool operator==(const TaskExample&) const = default;
};

// Reads one split file; throws t5::Error "FILE:LINE: ..." on a malformed line (bad JSON, missing or
// non-string or empty "inputs"/"targets", unknown key, blank line), "FILE: ..." for a missing or empty file.
std::vector<TaskExample> read_task_split(const std::string& path);

// One line of a split file, exactly as prepare writes it: {"inputs": "...", "targets": "..."} + "\n".
std::string task_example_line(const TaskExample& example);

struct TaskInfo {
  std::string name;
  std::vector<std::string> metrics;   // what score_task returns, primary first
  std::string primary_metric;
  bool higher_is_better = true;       // of the primary metric
};

const std::vector<std::string>& known_tasks();   // sentiment, supersense, g2p
TaskInfo task_info(const std::string& name);      // throws t5::Error listing the known tasks
std::string task_prefix(const std::string& name); // "sentiment: ", "supersense: ", "g2p: "

// Scores predictions (decoded text) against targets with the task's metrics (downstream/metrics.h):
// metric name -> value, every name of task_info(task).metrics. Throws on unknown task, empty lists or
// lists of different lengths.
std::map<std::string, double> score_task(const std::string& task, const std::vector<std::string>& predictions,
                                         const std::vector<std::string>& targets);

// --- preparation ------------------------------------------------------------------------------------

struct SplitSizes {
  int64_t train = 0;        // at most this many (fewer when the source runs out)
  int64_t validation = 0;   // exactly this many, else an error (the source is too small)
  int64_t test = 0;         // exactly this many, else an error
  bool operator==(const SplitSizes&) const = default;
};

// The defaults: 20000/2000/2000 for supersense and g2p; sentiment (2,982 sentences) 300/300 held out,
// every other sentence in train.
SplitSizes default_split_sizes(const std::string& task);

// --sizes: "T/V/S" for every task, or "task=T/V/S,task=T/V/S" per task (the others keep their defaults).
// Returns the sizes of each task in `tasks`. Throws t5::Error naming the bad part.
std::map<std::string, SplitSizes> parse_split_sizes(const std::string& text, const std::vector<std::string>& tasks);

// "sentiment,g2p" -> its names, checked against known_tasks() (no duplicates, not empty).
std::vector<std::string> parse_task_list(const std::string& text);

// Where the sources are. npm_dir holds unpacked npm packages as `data prepare` caches them:
// NPM_DIR/<name>_<version>/package/... (sentiment_5.0.2, cmu-pronouncing-dictionary_3.0.0);
// wordnet_dir holds WordNet 3.0's data.{noun,verb,adj,adv} (Debian: /usr/share/wordnet).
struct TaskSourceDirs {
  std::string npm_dir;
  std::string wordnet_dir;
};

// The npm packages ("name@version") and their directories under npm_dir that `tasks` read.
struct NpmPackage {
  std::string spec;        // sentiment@5.0.2
  std::string directory;   // sentiment_5.0.2 (the package's files under directory/package/)
};
std::vector<NpmPackage> npm_packages_for(const std::vector<std::string>& tasks);

struct TaskPrepareConfig {
  std::vector<std::string> tasks;
  std::string out_dir;
  uint64_t seed = 0;
  std::map<std::string, SplitSizes> sizes;   // every task of `tasks` (parse_split_sizes)
  TaskSourceDirs sources;
};

// Reads every task's source, splits it, and writes every task's files (all or nothing: nothing is
// renamed into place before every file is written). Returns {task: manifest}.
std::map<std::string, nlohmann::json> prepare_tasks(const TaskPrepareConfig& config);

// Checks DIR/<task>/manifest.json against the split files (every line well-formed, then bytes, CRC-32
// and example counts); returns the manifest. Throws t5::Error naming the first bad line or mismatch.
nlohmann::json verify_task_dir(const std::string& task_dir);

// CRC-32 (zlib's, as the corpus manifest uses) of a byte string.
uint32_t crc32_of(const std::string& bytes);

}  // namespace t5
