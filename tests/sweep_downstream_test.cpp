// A sweep spec's downstream block (issue 14): strict parsing; a toy sweep end to end through the
// binary (pretraining on the fixture corpus, then fine-tuning each variant on a toy task with two
// fine-tuning seeds, and from random init), whose records carry exactly the scores of the run files
// and whose report and plot data carry exactly the means of the records; a sweep killed inside a
// fine-tuning run that, rerun, ends with the scores of an uninterrupted sweep; and the report's
// downstream section on hand-made records (scores, the gain over random init, where the upstream and
// downstream frontiers disagree).
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "results/downstream_report.h"
#include "results/records.h"
#include "results/report.h"
#include "sweeps/spec.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using testing::ScratchDir;

const std::string kCorpus = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data";
const std::string kTokenizer = kCorpus + "/spiece.model";

// A sentiment-like toy task: the label is the polar word hidden among fillers.
void write_toy_task(const fs::path& dir) {
  fs::create_directories(dir);
  const char* pos[] = {"good", "great", "love"};
  const char* neg[] = {"bad", "awful", "hate"};
  const char* fill[] = {"the", "film", "was", "and", "it"};
  uint64_t state = 99;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (const auto& [split, n] : std::vector<std::pair<std::string, int>>{{"train", 64}, {"validation", 16}, {"test", 16}}) {
    std::ofstream out(dir / (split + ".jsonl"));
    for (int i = 0; i < n; ++i) {
      const bool positive = next(2) == 0;
      std::string text = std::string("sentiment: ") + fill[next(5)] + " " + (positive ? pos : neg)[next(3)] + " " + fill[next(5)];
      out << json{{"inputs", text}, {"targets", positive ? "positive" : "negative"}}.dump() << "\n";
    }
  }
}

json spec_json(const std::string& tasks_dir) {
  return {{"name", "ds"},
          {"base", "tiny-dm32-ff64-nh2-kv16"},
          {"grid", {{"nl", {1, 2}}}},
          {"budget", {{"steps", 6}}},
          {"batch", 2},
          {"inputs_length", 32},
          {"targets_length", 8},
          {"schedule", "constant"},
          {"lr", 0.01},
          {"threads", 1},
          {"data", {{"corpus", kCorpus}, {"tokenizer", kTokenizer}}},
          {"downstream",
           {{"tasks", {"sentiment"}},
            {"tasks_dir", tasks_dir},
            {"steps", 12},
            {"batch", 4},
            {"inputs_length", 16},
            {"targets_length", 8},
            {"eval_every", 6},
            {"seeds", {0, 1}},
            {"from_scratch", true}}}};
}

TEST(DownstreamSpec, ParsesStrictlyAndDefaultsTheTokenizerToThePretrainingOne) {
  const SweepSpec spec = parse_sweep_spec(spec_json("tasks"), "ds.json");
  ASSERT_TRUE(spec.downstream.enabled());
  EXPECT_EQ(spec.downstream.tasks, std::vector<std::string>{"sentiment"});
  EXPECT_EQ(spec.downstream.tokenizer, kTokenizer);
  EXPECT_EQ(spec.downstream.seeds, (std::vector<uint64_t>{0, 1}));
  EXPECT_TRUE(spec.downstream.from_scratch);
  EXPECT_EQ(spec.downstream.lr, 1e-3);   // T5's fine-tuning default
  json no_block = spec_json("tasks");
  no_block.erase("downstream");
  EXPECT_FALSE(parse_sweep_spec(no_block, "ds.json").downstream.enabled());

  auto error_of = [](const json& patch) {
    json j = spec_json("tasks");
    j.merge_patch(patch);
    try {
      parse_sweep_spec(j, "ds.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of({{"downstream", {{"stepz", 3}}}}), HasSubstr("ds.json: unknown key 'downstream.stepz'"));
  EXPECT_THAT(error_of({{"downstream", {{"tasks", {"sentiment", "nope"}}}}}), HasSubstr("key 'downstream.tasks[1]'"));
  EXPECT_THAT(error_of({{"downstream", {{"tasks", {"sentiment", "sentiment"}}}}}), HasSubstr("is repeated"));
  EXPECT_THAT(error_of({{"downstream", {{"seeds", {1, 1}}}}}), HasSubstr("'downstream.seeds[1]': seed 1 is repeated"));
  EXPECT_THAT(error_of({{"downstream", {{"steps", 0}}}}), HasSubstr("'downstream.steps' must be at least 1"));
  EXPECT_THAT(error_of({{"downstream", {{"dropout", 1.0}}}}), HasSubstr("'downstream.dropout' must be below 1"));
  EXPECT_THAT(error_of({{"data", {{"source", "synthetic"}, {"corpus", nullptr}, {"tokenizer", nullptr}}}}),
              HasSubstr("'downstream.tokenizer' is needed"));
}

double mean(const std::vector<double>& xs) {
  double s = 0;
  for (double x : xs) s += x;
  return s / double(xs.size());
}

// The downstream block of every record, by id, with only the fields that must not depend on timing.
std::map<std::string, json> scores_by_id(const std::string& runs) {
  std::map<std::string, json> out;
  for (const json& r : read_records(runs).records) {
    json d = r.at("downstream").at("tasks");
    for (auto& [task, t] : d.items())
      for (const char* start : {"pretrained", "from_scratch"})
        for (auto& run : t[start]["runs"]) run.erase("train_seconds"), run.erase("eval_seconds");
    out[r["id"]] = d;
  }
  return out;
}

TEST(SweepDownstream, EndToEndRecordsReportAndAKilledSweepRerun) {
  ScratchDir tmp("t5_sweep_downstream");
  write_toy_task(tmp.dir() / "tasks" / "sentiment");
  const std::string spec = tmp.write("ds.json", spec_json(tmp.path("tasks")).dump(2));
  const testing::CommandResult run = testing::t5scale("sweep " + spec + " --out " + tmp.path("whole"));
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const RecordFile file = read_records(tmp.path("whole/runs.jsonl"));
  ASSERT_EQ(file.records.size(), 2u);
  for (const json& r : file.records) {
    const std::string id = r["id"];
    const json& t = r.at("downstream").at("tasks").at("sentiment");
    EXPECT_EQ(t["primary_metric"], "accuracy");
    for (const char* start : {"pretrained", "from_scratch"}) {
      const json& block = t[start];
      ASSERT_EQ(block["runs"].size(), 2u) << id << " " << start;
      std::vector<double> scores;
      for (const json& run_j : block["runs"]) {
        // The record holds the scores of the run's own result file.
        const std::string dir = tmp.path("whole/downstream/" + id + "/sentiment" +
                                         (std::string(start) == "from_scratch" ? "-scratch" : "") + "-s" +
                                         std::to_string(run_j["seed"].get<int>()));
        const json result = json::parse(std::ifstream(dir + "/finetune.json"));
        EXPECT_EQ(run_j["test"], result["test"]) << dir;
        EXPECT_EQ(run_j["best_step"], result["best_step"]) << dir;
        EXPECT_FALSE(fs::exists(dir + "/best")) << "a finished variant's fine-tuning weights are pruned";
        EXPECT_FALSE(fs::exists(dir + "/checkpoint"));
        scores.push_back(run_j["test"]["accuracy"]);
      }
      EXPECT_DOUBLE_EQ(block["test_mean"].get<double>(), mean(scores));
      EXPECT_EQ(block["n"], 2);
    }
    // Pretrained and from-scratch runs start from different weights, so they train differently.
    EXPECT_NE(t["pretrained"]["runs"][0]["best_validation"], json()) << id;
  }

  // The report: the section, and plot data whose scores are the records' means.
  const testing::CommandResult report = testing::t5scale("report " + tmp.path("whole"));
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string md = testing::slurp(tmp.path("whole/report.md"));
  EXPECT_THAT(md, HasSubstr("## Downstream: fine-tuned quality"));
  EXPECT_THAT(md, HasSubstr("### sentiment (accuracy, higher is better)"));
  EXPECT_THAT(md, HasSubstr("frontiers against parameters"));
  const json data = json::parse(std::ifstream(tmp.path("whole/report_data.json")));
  ASSERT_TRUE(data.contains("downstream"));
  const json& points = data["downstream"]["sentiment"]["points"];
  ASSERT_EQ(points.size(), 2u);
  for (const json& p : points)
    for (const json& r : file.records)
      if (r["id"] == p["id"]) {
        EXPECT_DOUBLE_EQ(p["score"].get<double>(), r["downstream"]["tasks"]["sentiment"]["pretrained"]["test_mean"].get<double>());
        EXPECT_DOUBLE_EQ(p["upstream"].get<double>(), r["quality"]["negative_log_perplexity"].get<double>());
      }

  // Killed inside the first variant's first fine-tuning run (after its step 8), then rerun: the same scores.
  testing::CommandResult killed;
  {
    testing::ScopedEnv env({{"T5SCALE_TEST_KILL_AT", "finetune-sentiment:8"}});
    killed = testing::t5scale("sweep " + spec + " --out " + tmp.path("killed"));
  }
  EXPECT_NE(killed.exit_code, 0);
  EXPECT_TRUE(read_records(tmp.path("killed/runs.jsonl")).records.empty());
  const testing::CommandResult rerun = testing::t5scale("sweep " + spec + " --out " + tmp.path("killed"));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(scores_by_id(tmp.path("killed/runs.jsonl")), scores_by_id(tmp.path("whole/runs.jsonl")));
}

// A record as the report reads it: one shape (nl), its params, upstream quality and downstream runs.
json record(const std::string& id, int nl, int64_t params, double quality, const std::vector<double>& pretrained,
            const std::vector<double>& scratch) {
  auto runs = [](const std::vector<double>& xs) {
    json a = json::array();
    for (size_t i = 0; i < xs.size(); ++i) a.push_back({{"seed", i}, {"test", {{"accuracy", xs[i]}}}});
    return json{{"runs", a}};
  };
  return {{"id", id},
          {"status", "ok"},
          {"shape", {{"el", nl}, {"dl", nl}, {"dm", 64}, {"ff", 128}, {"kv", 16}, {"nh", 4}}},
          {"params", params},
          {"flops", {{"train_per_step", 1.0}, {"total", 10.0}}},
          {"throughput", {{"step_time_seconds", 0.1}}},
          {"quality", {{"negative_log_perplexity", quality}, {"eval_loss", -quality}}},
          {"downstream",
           {{"settings", {{"steps", 100}, {"seeds", {0, 1}}, {"from_scratch", true}}},
            {"tasks",
             {{"sentiment",
               {{"primary_metric", "accuracy"},
                {"higher_is_better", true},
                {"pretrained", runs(pretrained)},
                {"from_scratch", runs(scratch)}}}}}}}};
}

TEST(DownstreamReport, ScoresGainsAndWhereTheFrontiersDisagreeByHand) {
  // Upstream improves with size at every step (all three on the upstream frontier); downstream nl2
  // scores below nl1 (mean 0.70 < 0.75): nl2 is on the upstream frontier only.
  const std::vector<json> records = {record("nl1-s0", 1, 100, -5.0, {0.74, 0.76}, {0.60, 0.62}),
                                     record("nl2-s0", 2, 200, -4.9, {0.69, 0.71}, {0.70, 0.72}),
                                     record("nl4-s0", 4, 400, -4.8, {0.80, 0.84}, {0.60, 0.64})};
  const std::vector<ShapeSummary> shapes = summarize_shapes(records);
  const std::vector<DownstreamTask> tasks = collect_downstream(records, shapes);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].upstream_frontier, (std::vector<std::string>{"nl1-s0", "nl2-s0", "nl4-s0"}));
  EXPECT_EQ(tasks[0].downstream_frontier, (std::vector<std::string>{"nl1-s0", "nl4-s0"}));
  const DownstreamReport r = downstream_report(records, shapes);
  EXPECT_THAT(r.markdown, HasSubstr("**disagree**: on the upstream frontier only: `nl2-s0`; on the downstream frontier "
                                    "only: none; on both: `nl1-s0`, `nl4-s0`"));
  // Means ± sample sd: nl1 0.75 ± 0.0141, from scratch 0.61 ± 0.0141; gain +0.14.
  EXPECT_THAT(r.markdown, HasSubstr("| nl1-s0 | 100 | -5.0000 | 0.7500 ± 0.0141 (2) | 0.6100 ± 0.0141 (2) | +0.1400 ["));
  EXPECT_THAT(r.markdown, HasSubstr("| nl2-s0 | 200 | -4.9000 | 0.7000 ± 0.0141 (2) | 0.7100 ± 0.0141 (2) | -0.0100 ["));
  EXPECT_THAT(r.markdown, HasSubstr("Pretraining beats fine-tuning from random init on 2 of 3 shapes"));
  // Per dimension: nl 4 against nl 1 = 0.82 - 0.75.
  EXPECT_THAT(r.markdown, HasSubstr("| 4 | 1 | 0.8200 | +0.0700 |"));
  EXPECT_EQ(r.plot_data["sentiment"]["points"][1]["on_upstream_frontier"], true);
  EXPECT_EQ(r.plot_data["sentiment"]["points"][1]["on_downstream_frontier"], false);
  EXPECT_DOUBLE_EQ(r.plot_data["sentiment"]["points"][2]["scratch"].get<double>(), 0.62);

  // Frontiers that agree say so; records without a downstream block give no section.
  const std::vector<json> agree = {record("nl1-s0", 1, 100, -5.0, {0.70}, {}), record("nl2-s0", 2, 200, -4.9, {0.80}, {})};
  EXPECT_THAT(downstream_report(agree, summarize_shapes(agree)).markdown, HasSubstr("**agree**"));
  json plain = agree[0];
  plain.erase("downstream");
  EXPECT_EQ(downstream_report({plain}, summarize_shapes({plain})).markdown, "");
}

}  // namespace
}  // namespace t5
