// The data commands as a user meets them (T5SCALE_BINARY): `spans` against SPEC.md §6, `batches`
// against the library's C4Source, bad data as one `file:line` error line with exit 1 (or counted and
// reported under skip), `batches --bench` (pipeline vs training tokens/s and their ratio) and
// `data prepare` (deterministic in the seed, held-out validation, report = what is on disk).
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

#include "core/data/c4_source.h"
#include "core/data/corpus_builder.h"
#include "core/data/text_reader.h"
#include "core/data/tokenizer.h"

namespace t5 {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data";
const std::string kModel = kFixture + "/spiece.model";

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("t5scale-cli-data-" + tag + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream((path / name).string(), std::ios::binary) << content;
    return (path / name).string();
  }
};

using t5::testing::CommandResult;
using t5::testing::expect_one_line_error;
using t5::testing::lines;
using t5::testing::numbers_after;
using t5::testing::slurp;
using t5::testing::t5scale;
using t5::testing::within_rounding;

// --- spans ---------------------------------------------------------------------------------------

TEST(CliSpans, LengthsTableOfSpec) {
  // SPEC.md §6: inputs 512 -> T 568, targets 114; noise round(568*0.15) = 85, spans round(85/3) = 28.
  const CommandResult r = t5scale("spans --inputs-length 512 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens_length"], 568);
  EXPECT_EQ(j["targets_length"], 114);
  EXPECT_EQ(j["noise_tokens"], 85);
  EXPECT_EQ(j["noise_spans"], 28);
  const CommandResult t = t5scale("spans --inputs-length 64 --noise-density 0.2 --mean-noise-span-length 1");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("tokens_length 63\n"));
  EXPECT_THAT(t.out, HasSubstr("targets_length 27\n"));
  // SPEC.md §6's float32 case, a piece of 190: inputs 172 -> T 190 (noise round_half_even(28.5) = 28, spans
  // round(28/3) = 9, inputs 190 - 28 + 9 + 1 = 172; T 191 would need 191 - 29 + 10 + 1 = 173), targets
  // 28 + 9 + 1 = 38. In float32 190 * 0.15f = 28.500002 rounds to 29 noise tokens in round(29/3) = 10 spans.
  const CommandResult f = t5scale("spans --inputs-length 172");
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(f.out, "inputs_length 172 (noise density 0.15, mean noise span length 3)\ntokens_length 190\n"
                   "targets_length 38\nnoise tokens 28\nnoise spans 9\nnote: the float32 mask of a full piece has "
                   "29 noise tokens in 10 spans (targets trimmed)\n");
}

TEST(CliSpans, MoreThan100SentinelsIsOneLineError) {
  expect_one_line_error(t5scale("spans --inputs-length 2048"), "spans", "114 sentinels");
}

// --- batches -------------------------------------------------------------------------------------

TEST(CliBatches, JsonEqualsTheLibraryStream) {
  const CommandResult r =
      t5scale("batches --data " + kFixture + " --tokenizer " + kModel + " --inputs-length 64 --batch 3 --count 2 --seed 4 --json --decode");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  C4Source source(kFixture, "train", kModel, cfg, 3, 4);
  std::istringstream in(r.out);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["position"], source.position());
    const Batch b = source.next();
    ASSERT_EQ(j["rows"].size(), 3u);
    EXPECT_EQ(j["targets_length"], 14);
    for (int64_t row = 0; row < 3; ++row) {
      const auto& jr = j["rows"][size_t(row)];
      EXPECT_EQ(jr["input_ids"].get<std::vector<int32_t>>(),
                std::vector<int32_t>(b.input_ids.begin() + row * 64, b.input_ids.begin() + (row + 1) * 64));
      EXPECT_EQ(jr["labels"].get<std::vector<int32_t>>(),
                std::vector<int32_t>(b.labels.begin() + row * 14, b.labels.begin() + (row + 1) * 14));
      EXPECT_EQ(jr["decoder_input_ids"].get<std::vector<int32_t>>(),
                std::vector<int32_t>(b.decoder_input_ids.begin() + row * 14, b.decoder_input_ids.begin() + (row + 1) * 14));
      EXPECT_THAT(jr["decoded"][0]["inputs"].get<std::string>(), HasSubstr("<extra_id_0>"));
      EXPECT_THAT(jr["decoded"][0]["targets"].get<std::string>(), StartsWith("<extra_id_0>"));
    }
    ++n;
  }
  EXPECT_EQ(n, 2);
}

// Without --tokenizer, a corpus directory is read with its own spiece.model (the fixture's 1000-piece
// model, not the shipped 32000-piece one), as `train --data DIR` does: the same batches as naming it.
TEST(CliBatches, CorpusDirectoryUsesItsOwnTokenizer) {
  const std::string args = " --inputs-length 64 --batch 2 --count 1 --json";
  const CommandResult own = t5scale("batches --data " + kFixture + args);
  const CommandResult named = t5scale("batches --data " + kFixture + " --tokenizer " + kModel + args);
  ASSERT_EQ(own.exit_code, 0) << own.err;
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(own.out, named.out);
  EXPECT_THAT(own.err, HasSubstr("tokenizer " + kModel + " (1000 pieces)"));
}

const std::string kGood = R"({"text": "Call me Ishmael. Some years ago, never mind how long precisely.", "url": "u"})";

TEST(CliBatches, BadDataStopNamesFileAndLine) {
  TempDir dir("stop");
  const std::string f = dir.write("bad-train.jsonl", kGood + "\n" + kGood + "\n{\"text\": \"cut\n" + kGood + "\n");
  const std::string args = "batches --data " + f + " --tokenizer " + kModel + " --inputs-length 64 --batch 2";
  expect_one_line_error(t5scale(args + " --on-bad-data stop"), "batches", "bad-train.jsonl:3: malformed JSON");
  // skip: the run goes on; the count and file:line are reported on stderr.
  const CommandResult skip = t5scale(args + " --on-bad-data skip");
  EXPECT_EQ(skip.exit_code, 0) << skip.err;
  EXPECT_THAT(skip.err, HasSubstr("1 bad lines skipped (malformed JSON 1"));
  EXPECT_THAT(skip.err, HasSubstr("bad-train.jsonl:3: malformed JSON"));
  const std::string u = dir.write("utf-train.jsonl", kGood + "\n{\"text\": \"caf\xC3\"}\n");
  expect_one_line_error(t5scale("batches --data " + u + " --tokenizer " + kModel + " --on-bad-data stop"), "batches",
                        "utf-train.jsonl:2: invalid UTF-8");
}

TEST(CliTrain, BadDataPolicyIsSelectableForTraining) {
  TempDir dir("train-bad");
  std::string good;
  for (int i = 0; i < 40; ++i) good += kGood + "\n";
  dir.write("x-train.jsonl", good + "{\"text\": \"cut\n" + good);
  dir.write("x-validation.jsonl", good);
  const std::string args = "train --model t5-efficient-tiny-nl1-dm64-ff128-kv16-nh2 --data " + dir.path.string() +
                           " --tokenizer " + kModel + " --steps 2 --batch 2 --inputs-length 64";
  // stop: the run had begun (its opening line is on stderr), the error is the one line after it.
  const CommandResult stop = t5scale(args + " --on-bad-data stop");
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.err, HasSubstr("\nt5scale train: error: " + dir.path.string() + "/x-train.jsonl:41: malformed JSON"));
  const CommandResult skip = t5scale(args);   // default: skip, count, report file:line (as batches) and go on
  EXPECT_EQ(skip.exit_code, 0) << skip.err;
  // The opening line, by hand: dm 64, ff 128, inner 2*16 = 32, V 32128: 32128*64 + (4*64*32 + 2*64*128
  // + 2*64) + (8*64*32 + 2*64*128 + 3*64) + 2*32*2 + 2*64 = 2,056,192 + 24,704 + 32,960 + 128 + 128
  // = 2,114,112 parameters; SPEC.md §6: inputs 64 -> T 70, targets 14.
  EXPECT_THAT(skip.err, HasSubstr(": 2114112 parameters; c4 span corruption (t5 mode) "));
  EXPECT_THAT(skip.err, HasSubstr(" [train] 1 files, tokenizer " + kModel + " (1000 pieces), inputs 64 targets 14 "
                                  "tokens_length 70 noise 0.15 mean span 3, batch 2, seed 0; 2 steps of 2 examples"));
  EXPECT_THAT(skip.err, HasSubstr("train: training data: 1 bad lines skipped (malformed JSON 1, no text 0"));
  EXPECT_THAT(skip.err, HasSubstr("\n  " + dir.path.string() + "/x-train.jsonl:41: malformed JSON line"));
  EXPECT_THAT(skip.err, Not(HasSubstr("held-out data")));   // the validation file is clean
  expect_one_line_error(t5scale(args + " --on-bad-data ignore"), "train", "unknown --on-bad-data 'ignore'");
}

TEST(CliBatches, EmptyCorpusAndBadTokenizer) {
  TempDir dir("empty");
  fs::create_directories(dir.path / "en");
  expect_one_line_error(t5scale("batches --data " + dir.path.string() + " --tokenizer " + kModel), "batches",
                        "empty corpus");
  dir.write("en/c4-train.00000-of-00001.json.gz", "");
  expect_one_line_error(t5scale("batches --data " + dir.path.string() + " --tokenizer " + kModel), "batches",
                        "empty corpus");
  const std::string junk = dir.write("junk.model", "not a model");
  expect_one_line_error(t5scale("batches --data " + kFixture + " --tokenizer " + junk), "batches", "junk.model");
  expect_one_line_error(t5scale("batches --data " + kFixture + " --tokenizer " + kModel + " --inputs-length 2048"),
                        "batches", "114 sentinels");
}

TEST(CliBatches, BenchPrintsPipelineTrainingAndRatio) {
  const CommandResult r = t5scale("batches --bench --json --data " + kFixture + " --tokenizer " + kModel +
                                  " --inputs-length 64 --batch 2 --count 20 --train-model t5-efficient-tiny"
                                  " --train-steps 1 --train-warmup 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto& p = j["pipeline"];
  const auto& t = j["training"];
  // Both count batch * (inputs + targets): 2 * (64 + 14) per batch or step.
  EXPECT_EQ(p["tokens"], 20 * 2 * (64 + 14));
  EXPECT_EQ(t["tokens_per_step"], 2 * (64 + 14));
  EXPECT_EQ(t["model"], "t5-efficient-tiny");
  EXPECT_NEAR(p["tokens_per_second"].get<double>(), p["tokens"].get<double>() / p["seconds"].get<double>(),
              1e-9 * p["tokens_per_second"].get<double>());
  EXPECT_NEAR(t["tokens_per_second"].get<double>(), 2.0 * 78 / t["step_seconds"].get<double>(),
              1e-9 * t["tokens_per_second"].get<double>());
  const double ratio = p["tokens_per_second"].get<double>() / t["tokens_per_second"].get<double>();
  EXPECT_NEAR(j["ratio"].get<double>(), ratio, 1e-9 * ratio);
  EXPECT_EQ(j["meets_requirement"], ratio >= 20.0);
  EXPECT_GT(p["raw_tokens"].get<int64_t>(), 0);
  // `none` times the pipeline only.
  const CommandResult h = t5scale("batches --bench --data " + kFixture + " --tokenizer " + kModel +
                                  " --inputs-length 64 --batch 2 --count 5 --train-model none");
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_THAT(h.out, StartsWith("pipeline "));
  EXPECT_EQ(lines(h.out), 1);
}

// The human form prints the three figures side by side; each follows from the printed counts and times
// within their rounding: tokens = batch 2 x (64 + 14) = 156 per batch or step (SPEC.md §6: inputs 64 make
// targets of 14), the pipeline's 10 batches 1,560 tokens.
TEST(CliBatches, BenchTextFollowsFromItsCountsAndTimes) {
  const CommandResult h = t5scale("batches --bench --data " + kFixture + " --tokenizer " + kModel +
                                  " --inputs-length 64 --batch 2 --count 10 --train-model t5-efficient-tiny-nl1"
                                  " --train-steps 1 --train-warmup 0");
  ASSERT_EQ(h.exit_code, 0) << h.err;
  ASSERT_EQ(lines(h.out), 3) << h.out;
  const std::vector<double> p = numbers_after(h.out, "pipeline");   // tokens/s, batches, seconds, raw/s, documents
  ASSERT_EQ(p.size(), 5u) << h.out;
  EXPECT_EQ(p[1], 10);
  EXPECT_TRUE(within_rounding(p[0], 0.5, 1560, 0, p[2], 5e-4)) << h.out;
  const std::vector<double> t = numbers_after(h.out, "training");   // tokens/s, median step, steps, threads
  ASSERT_EQ(t.size(), 4u) << h.out;
  EXPECT_TRUE(within_rounding(t[0], 0.5, 156, 0, t[1], 5e-5)) << h.out;
  EXPECT_EQ(t[2], 1);
  EXPECT_THAT(h.out, HasSubstr("(tokens = batch 2 * (inputs 64 + targets 14); required >= 20x: "));
  const double ratio = numbers_after(h.out, "ratio").at(0);
  EXPECT_TRUE(within_rounding(ratio, 0.05, p[0], 0.5, t[0], 0.5)) << h.out;
  EXPECT_THAT(h.out, HasSubstr(ratio >= 20 ? "required >= 20x: yes)" : "required >= 20x: NO)"));
}

// --- data prepare --------------------------------------------------------------------------------

// Source texts for `data prepare --sources-jsonl`: the fixture's documents, one source text each.
std::string write_sources(const TempDir& dir) {
  DocumentReader reader(list_corpus_files(kFixture, "train"), BadDataPolicy::stop);
  Document d;
  std::string out;
  int n = 0;
  while (reader.next(d))
    out += nlohmann::json{{"url", "https://t5scale.invalid/test/" + std::to_string(n++)}, {"text", d.text}}.dump() + "\n";
  return dir.write("sources.jsonl", out);
}

// Url of every line of the split's shards (gzip read through the same reader as training).
std::set<std::string> source_urls(const std::string& dir, const std::string& split) {
  std::set<std::string> out;
  for (const std::string& file : list_corpus_files(dir, split)) {
    gzFile f = gzopen(file.c_str(), "rb");
    char buf[1 << 16];
    std::string text;
    int got;
    while ((got = gzread(f, buf, sizeof buf)) > 0) text.append(buf, size_t(got));
    gzclose(f);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      const std::string url = nlohmann::json::parse(line).at("url").get<std::string>();
      out.insert(url.substr(0, url.find('?')));   // the source text, without ?part=N
    }
  }
  return out;
}

TEST(CliDataPrepare, DeterministicHeldOutAndReportMatchesDisk) {
  TempDir dir("prepare");
  const std::string sources = write_sources(dir);
  const std::string common = " --sources-jsonl " + sources + " --vocab-size 400 --train-shards 2 --json";
  const std::string a = (dir.path / "a").string(), b = (dir.path / "b").string(), c = (dir.path / "c").string();
  const CommandResult ra = t5scale("data prepare --out " + a + " --seed 3" + common);
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(t5scale("data prepare --out " + b + " --seed 3" + common).exit_code, 0);
  ASSERT_EQ(t5scale("data prepare --out " + c + " --seed 4" + common).exit_code, 0);
  // Same seed: byte-identical shards and model; another seed: other documents.
  for (const char* f : {"en/c4-train.00000-of-00002.json.gz", "en/c4-train.00001-of-00002.json.gz",
                        "en/c4-validation.00000-of-00001.json.gz", "spiece.model"})
    EXPECT_EQ(slurp(fs::path(a) / f), slurp(fs::path(b) / f)) << f;
  EXPECT_NE(slurp(fs::path(a) / "en/c4-train.00000-of-00002.json.gz"),
            slurp(fs::path(c) / "en/c4-train.00000-of-00002.json.gz"));
  // Validation holds whole source texts that train never sees.
  const std::set<std::string> train = source_urls(a, "train"), validation = source_urls(a, "validation");
  EXPECT_FALSE(validation.empty());
  for (const std::string& u : validation) EXPECT_EQ(train.count(u), 0u) << u;
  EXPECT_EQ(train.size() + validation.size(), 120u);
  // The report is what is on disk: documents, text bytes, gzip bytes and tokens recounted here.
  const nlohmann::json rep = nlohmann::json::parse(ra.out)["report"];
  std::map<std::string, std::vector<std::string>> recounted;   // split -> the numbers its human line must show
  const Tokenizer tok(a + "/spiece.model");
  EXPECT_EQ(tok.piece_count(), 400);
  EXPECT_EQ(rep["pieces"], 400);
  for (const char* split : {"train", "validation"}) {
    DocumentReader reader(list_corpus_files(a, split), BadDataPolicy::stop);
    Document d;
    int64_t docs = 0, bytes = 0, tokens = 0, file_bytes = 0;
    while (reader.next(d)) ++docs, bytes += int64_t(d.text.size()), tokens += int64_t(tok.encode(d.text).size());
    for (const std::string& f : list_corpus_files(a, split)) file_bytes += int64_t(fs::file_size(f));
    EXPECT_EQ(rep[split]["documents"], docs) << split;
    EXPECT_EQ(rep[split]["text_bytes"], bytes) << split;
    EXPECT_EQ(rep[split]["tokens"], tokens) << split;
    EXPECT_EQ(rep[split]["file_bytes"], file_bytes) << split;
    recounted[split] = {std::to_string(docs), std::to_string(bytes), std::to_string(file_bytes), std::to_string(tokens),
                        std::to_string(list_corpus_files(a, split).size())};
  }
  EXPECT_EQ(verify_corpus(a)["verified_documents"],
            rep["train"]["documents"].get<int64_t>() + rep["validation"]["documents"].get<int64_t>());
  // The human report prints the same numbers.
  const CommandResult h = t5scale("data prepare --out " + b + " --seed 3 --sources-jsonl " + sources +
                                  " --vocab-size 400 --train-shards 2");
  ASSERT_EQ(h.exit_code, 0) << h.err;
  // Each split's line: "SPLIT D documents B text bytes G gzip bytes T tokens F files", every number as
  // recounted from disk above (the second run wrote byte-identical files).
  std::istringstream human(h.out);
  int split_lines = 0;
  for (std::string line; std::getline(human, line);) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string word; in >> word;) w.push_back(word);
    if (w.empty() || !recounted.count(w[0])) continue;
    ++split_lines;
    ASSERT_EQ(w.size(), 13u) << line;
    EXPECT_EQ((std::vector<std::string>{w[1], w[3], w[6], w[9], w[11]}), recounted[w[0]]) << line;
  }
  EXPECT_EQ(split_lines, 2) << h.out;
  EXPECT_THAT(h.out, HasSubstr("400 pieces + 100 sentinels"));
  EXPECT_FALSE(fs::exists(b + ".tmp")) << "nothing half-written is left";
}

TEST(CliData, HelpListsSubcommandsAndBadOnesAreOneLine) {
  for (const char* flag : {"--help", "-h"}) {
    const CommandResult h = t5scale(std::string("data ") + flag);
    EXPECT_EQ(h.exit_code, 0) << h.err;
    EXPECT_THAT(h.out, StartsWith("usage: t5scale data <subcommand>"));
    EXPECT_THAT(h.out, HasSubstr("\n  prepare "));
    EXPECT_EQ(h.err, "");
  }
  expect_one_line_error(t5scale("data"), "data",
                        "missing subcommand: prepare (or verify-tasks) (hint: t5scale data prepare --help)");
  expect_one_line_error(t5scale("data fetch"), "data", "unknown data subcommand 'fetch'");
}

TEST(CliDataPrepare, BadSourcesAndOffline) {
  TempDir dir("prepare-bad");
  const std::string bad = dir.write("sources.jsonl", R"({"url": "u", "text": "ok"})" "\n{\"url\": 3\n");
  expect_one_line_error(t5scale("data prepare --out " + (dir.path / "o").string() + " --sources-jsonl " + bad),
                        "data", "sources.jsonl:2:");
  EXPECT_FALSE(fs::exists(dir.path / "o" / "manifest.json"));
  const CommandResult off = t5scale("data prepare --offline --json");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  const nlohmann::json j = nlohmann::json::parse(off.out);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["report"]["pieces"], 32000);
}

TEST(CliDataPrepare, OutUnderARegularFileIsCheckedBeforeAnyWork) {
  TempDir dir("prepare-outfile");
  const std::string afile = dir.write("afile", "x");
  const std::string bad = (fs::path(afile) / "x").string();
  // The sources file is never read: a path check that came late would report it missing instead.
  expect_one_line_error(t5scale("data prepare --out " + bad + " --sources-jsonl " + (dir.path / "missing.jsonl").string()),
                        "data", "--out " + bad + ": '" + afile + "' is not a directory (hint: ");
  expect_one_line_error(t5scale("data prepare --offline --out " + bad), "data", "is not a directory");
  expect_one_line_error(t5scale("report " + dir.path.string() + " --out " + bad), "report", "is not a directory");
}

// Settings build_corpus cannot use are one line naming the option before any source is read (the
// sources file here does not exist: a late check would report that instead, after fetching with npm).
// A build that fails later (SentencePiece refuses 50000 pieces for a few documents) leaves neither
// OUT nor OUT.tmp.
TEST(CliDataPrepare, BadSettingsBeforeAnyWorkAndNothingLeftOnFailure) {
  TempDir dir("prepare-settings");
  const std::string out = (dir.path / "o").string();
  const std::string missing = " --out " + out + " --sources-jsonl " + (dir.path / "missing.jsonl").string();
  expect_one_line_error(t5scale("data prepare --vocab-size -1" + missing), "data",
                        "error: --vocab-size must not be negative, got -1 (hint: ");
  expect_one_line_error(t5scale("data prepare --train-shards 0" + missing), "data",
                        "error: --train-shards must be at least 1, got 0");
  expect_one_line_error(t5scale("data prepare --validation-shards -2" + missing), "data",
                        "error: --validation-shards must be at least 1, got -2");
  expect_one_line_error(t5scale("data prepare --validation-fraction 1" + missing), "data",
                        "error: --validation-fraction must be in (0, 1), got 1");
  expect_one_line_error(t5scale("data prepare --max-documents -5" + missing), "data",
                        "error: --max-documents must be 0 (all) or positive, got -5");
  std::string few;
  for (int i = 0; i < 5; ++i)
    few += nlohmann::json{{"url", fmt::format("u{}", i)}, {"text", fmt::format("a few words of text, number {}", i)}}
               .dump() + "\n";
  const CommandResult big =
      t5scale("data prepare --vocab-size 50000 --out " + out + " --sources-jsonl " + dir.write("few.jsonl", few));
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_THAT(big.err, HasSubstr("t5scale data: error: SentencePiece training failed"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp")) << "nothing half-written is left";
}

// A directory the system refuses (/proc takes no new entries, even from root) passes the path check
// and fails when it is created: one line naming the path and the reason, not an "internal error".
TEST(CliDataPrepare, UncreatableOutIsOneLineNamingThePath) {
  expect_one_line_error(t5scale("data prepare --offline --out /proc/t5scale-no/corpus"), "data",
                        "error: /proc/t5scale-no/corpus.tmp: cannot create directories: No such file or directory "
                        "(hint: check the path and its permissions)");
  const std::string records = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/results/readme-depth";
  expect_one_line_error(t5scale("report " + records + " --no-plots --out /proc/t5scale-no/report"), "report",
                        "error: /proc/t5scale-no/report: cannot create directories: ");
}

TEST(CliBatches, NegativeOrFractionalSeedIsOneLineError) {
  expect_one_line_error(t5scale("batches --seed -1"), "batches", "--seed: '-1' is not a seed in [0, 2^64)");
  expect_one_line_error(t5scale("batches --seed 2.5"), "batches", "--seed: '2.5' is not a seed");
  expect_one_line_error(t5scale("data prepare --offline --seed -1"), "data", "--seed: '-1' is not a seed");
}

}  // namespace
}  // namespace t5
