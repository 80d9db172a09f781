// `t5scale report` on a small stored results directory (tests/fixtures/results/depth-fixture: five
// hand-made records, two seeds of one shape, one diverged run, a torn last line, a field from a
// future schema): frontiers, seed statistics and report text against hand-worked values, and the
// plotting script writing PNG and SVG files.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "results/records.h"
#include "core/counts.h"
#include "core/error.h"
#include "core/shape.h"
#include "results/report.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/results/depth-fixture";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string out_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / fmt::format("t5scale_report_{}_{}", name, ::getpid())).string();
  fs::remove_all(dir);
  return dir;
}

// The sharing flags are a dimension of the report although shape JSON writes them only when true:
// a shape without "shared_kv" counts as false.
TEST(Report, SharingFlagsAreADimension) {
  std::vector<ShapeSummary> shapes(3);
  shapes[0].shape = {{"el", 2}, {"dl", 2}, {"dm", 8}};
  shapes[1].shape = {{"el", 2}, {"dl", 2}, {"dm", 8}, {"shared_kv", true}};
  shapes[2].shape = {{"el", 2}, {"dl", 2}, {"dm", 8}, {"shared_kv", true}, {"shared_heads", true}};
  const std::vector<SweepDimension> dims = sweep_dimensions(shapes);
  ASSERT_EQ(dims.size(), 2u);
  EXPECT_EQ(dims[0].key, "shared_heads");
  EXPECT_EQ(dims[0].values, (std::vector<std::string>{"false", "true"}));
  EXPECT_EQ(dims[0].by_value.at("false").size(), 2u);
  EXPECT_EQ(dims[1].key, "shared_kv");
  EXPECT_EQ(dims[1].by_value.at("false").size(), 1u);
  EXPECT_EQ(dims[1].by_value.at("true").size(), 2u);
}

TEST(Report, SummariesAndFrontiersByHand) {
  const RecordFile file = read_records(kFixture + "/runs.jsonl");
  ASSERT_EQ(file.records.size(), 5u);
  EXPECT_EQ(file.torn_lines, std::vector<int64_t>{6});
  const std::vector<ShapeSummary> shapes = summarize_shapes(file.records);
  ASSERT_EQ(shapes.size(), 3u);   // nl1, nl2 (two seeds), nl4; the diverged nl8 is left out
  EXPECT_EQ(shapes[1].shape_id, "tiny-nl2");
  EXPECT_EQ(shapes[1].label, "tiny-nl2 (2 seeds)");
  EXPECT_DOUBLE_EQ(shapes[1].quality_mean, -4.1);
  EXPECT_NEAR(shapes[1].quality_std, std::sqrt(0.02), 1e-12);   // sample std of {-4.0, -4.2}
  EXPECT_DOUBLE_EQ(shapes[1].step_time, 0.225);
  EXPECT_EQ(shapes[1].quality_min, -4.2);
  EXPECT_EQ(shapes[1].quality_max, -4.0);
  EXPECT_EQ(shapes[0].label, "tiny-nl1-s0");
  const Frontiers f = compute_frontiers(shapes);
  // Params: nl4 (400, -4.5) is dominated by nl2 (200, -4.1).
  ASSERT_EQ(f.params.points().size(), 2u);
  EXPECT_EQ(f.params.points()[0].id, "tiny-nl1-s0");
  EXPECT_EQ(f.params.points()[1].id, "tiny-nl2 (2 seeds)");
  // Step time: nl4 ran faster than nl2 (0.15 s vs 0.225 s), so all three are on that frontier.
  ASSERT_EQ(f.step_time.points().size(), 3u);
  EXPECT_EQ(f.step_time.points()[1].id, "tiny-nl4-s0");
}

TEST(Report, WritesReportAndFrontierFiles) {
  ReportOptions opt;
  opt.results_dir = kFixture;
  opt.out_dir = out_dir("md");
  const ReportOutput out = write_report(opt);
  EXPECT_EQ(out.torn_lines, std::vector<int64_t>{6});
  const std::string md = read(out.report_md);
  EXPECT_THAT(md, HasSubstr("# Sweep report: depth-fixture"));
  EXPECT_THAT(md, HasSubstr("**Question.** Does depth help at a fixed width?"));
  EXPECT_THAT(md, HasSubstr("10 steps × batch 4 × (64 inputs + 14 targets) tokens = 3,120 tokens per variant"));
  EXPECT_THAT(md, HasSubstr("not* the paper's 524,288-step runs"));
  EXPECT_THAT(md, HasSubstr("is 5.5000 nats per target token, negative log-perplexity -5.5000"));
  EXPECT_THAT(md, HasSubstr("reaches an eval loss of 4.1000 nats, 1.4000 nats below the baseline"));
  // nl2's seeds (-4.0, -4.2) resample to means in [-4.2, -4.0], always above nl4's -4.5 at a lower
  // parameter count and FLOPs, never below nl1's -5.0: the frontiers are certain.
  EXPECT_THAT(md, HasSubstr("### How sure is each frontier?"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 | 2 | 1.00 (on) | 1.00 (on) | 1.00 (on) |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl4 | 1 | 0.00 | 0.00 | 1.00 (on) |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 | 2 | -4.1000 ± 0.1414 | -4.2000 | -4.0000 |"));
  EXPECT_THAT(md, HasSubstr("`tiny-nl8-s0`: diverged — loss is nan at step 8"));
  // MFU as a percentage (the record's 0.1), as bench prints it; no run is above 100%, so no note.
  EXPECT_THAT(md, HasSubstr("| 0.100 | 3120 | 10.0% | 5.0000 |"));
  EXPECT_THAT(md, Not(HasSubstr("MFU above 100%")));
  // Every shape has el = dl: the depth dimension is nl. Row nl = 2 against nl = 1 (-5.0, 100 params,
  // 100 FLOPs/step, 0.1 s): +0.9 nats, twice the params and FLOPs, 2.25× the step time (0.225 s).
  EXPECT_THAT(md, HasSubstr("### nl\n"));
  EXPECT_THAT(md, Not(HasSubstr("### el\n")));
  EXPECT_THAT(md, HasSubstr("| 2 | 1 | -4.1000 | +0.9000 | 200 | 2.00 | 200 | 2.00 | 0.225 | 2.25 |"));
  // Its 95% interval over seeds, by hand: nl2's two seeds (-4.0, -4.2) resample to a mean of -4.0, -4.1
  // or -4.2 with probabilities 1/4, 1/2, 1/4, against nl1's one seed at -5.0: Δ is +1.0, +0.9 or +0.8,
  // so the 2.5th and 97.5th percentiles are +0.8 and +1.0; nl4 and nl1 have one seed each.
  EXPECT_THAT(md, HasSubstr("| 0.225 | 2.25 | [+0.8000, +1.0000] (3 seeds) | — | — |\n"));
  EXPECT_THAT(md, HasSubstr("| — (one seed each) | — | — |\n"));
  EXPECT_THAT(md, HasSubstr("Note: 1 torn line (6) of runs.jsonl skipped"));
  // All runs, from the records as stored: nl1 (100 params, 100 FLOPs/step, 10 steps, 0.1 s, 3120 tokens/s,
  // MFU 10%, loss 5.0) is the cheapest shape, on every frontier; nl4 (400, 0.15 s, loss 4.5) is dominated
  // by nl2 (200, 200, mean step time 0.225 s, loss 4.1) in params and FLOPs but is faster than it; a
  // seed of nl2 carries its shape's marks; the diverged nl8 has no quality and is on no frontier.
  EXPECT_THAT(md, HasSubstr("| tiny-nl1-s0 | ok | 100 | 100 | 10 | 0.100 | 3120 | 10.0% | 5.0000 | -5.0000 | "
                            "params, flops, step_time |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl2-s1 | ok | 200 | 200 | 10 | 0.250 | 1248 | 10.0% | 4.2000 | -4.2000 | "
                            "params, flops, step_time |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl4-s0 | ok | 400 | 400 | 10 | 0.150 | 2080 | 10.0% | 4.5000 | -4.5000 | step_time |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl8-s0 | diverged | 800 | 80 | 10 | 0.300 | 1040 | 10.0% | — | — |  |\n"));
  // Frontier tables: quality is the seed mean, cost the shape's (step time the seed mean).
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 (2 seeds) | 200 | -4.1000 |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 (2 seeds) | 0.225 | -4.1000 |\n"));
  EXPECT_THAT(md, HasSubstr("| tiny-nl4-s0 | 0.150 | -4.5000 |\n"));
  EXPECT_EQ(torn_lines_text({2, 5, 9}), "3 torn lines (2, 5, 9)");
  EXPECT_THAT(md, HasSubstr("![quality vs depth](depth_curve.png)"));
  const auto frontier = nlohmann::json::parse(read(opt.out_dir + "/frontier_params.json"));
  EXPECT_EQ(frontier["bootstrap"]["frontier_probability"]["tiny-nl4-s0"], 0.0);
  EXPECT_EQ(frontier["points"][1]["frontier_probability"], 1.0);
  EXPECT_EQ(frontier["cost"], "params");
  ASSERT_EQ(frontier["points"].size(), 2u);
  EXPECT_EQ(frontier["points"][1]["id"], "tiny-nl2 (2 seeds)");
  EXPECT_DOUBLE_EQ(frontier["points"][1]["quality"].get<double>(), -4.1);
  const auto data = nlohmann::json::parse(read(opt.out_dir + "/report_data.json"));
  // Curves: one per ok shape (nl2's two seeds as one mean with a min–max band) plus the diverged run.
  ASSERT_EQ(data["curves"].size(), 4u);
  EXPECT_EQ(data["curves"][1]["id"], "tiny-nl2 (2 seeds)");
  EXPECT_EQ(data["curves"][1]["seeds"], 2);
  const auto& band = data["curves"][1]["eval"];   // [[step, mean, min, max]] of eval losses 4.0 and 4.2
  ASSERT_EQ(band.size(), 1u);
  EXPECT_EQ(band[0][0], 10.0);
  EXPECT_DOUBLE_EQ(band[0][1].get<double>(), 4.1);
  EXPECT_DOUBLE_EQ(band[0][2].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(band[0][3].get<double>(), 4.2);
  EXPECT_EQ(data["curves"][1]["train"].size(), 10u);
  EXPECT_EQ(data["curves"][3]["id"], "tiny-nl8-s0");
  EXPECT_EQ(data["curves"][3]["status"], "diverged");
  EXPECT_EQ(data["depth"]["series"][0]["x"], nlohmann::json({1, 2, 4}));
  // The plotted depth curve: seed means -5.0, (-4.0 - 4.2)/2 = -4.1, -4.5; error bars the sample std of
  // nl2's two seeds, sqrt(((0.1)^2 + (0.1)^2) / 1) = sqrt(0.02), none for single runs.
  const auto& depth = data["depth"]["series"][0];
  ASSERT_EQ(depth["y"].size(), 3u);
  EXPECT_DOUBLE_EQ(depth["y"][0].get<double>(), -5.0);
  EXPECT_DOUBLE_EQ(depth["y"][1].get<double>(), -4.1);
  EXPECT_DOUBLE_EQ(depth["y"][2].get<double>(), -4.5);
  EXPECT_NEAR(depth["yerr"][1].get<double>(), std::sqrt(0.02), 1e-12);
  EXPECT_EQ(depth["yerr"][0].get<double>(), 0.0);
  // The plotted points' FLOPs are whole runs: 10 steps x 100, 200, 400 FLOPs per step (report.md: 1.00K, 2.00K).
  ASSERT_EQ(data["points"].size(), 3u);
  EXPECT_EQ(data["points"][0]["flops"].get<double>(), 1000.0);
  EXPECT_EQ(data["points"][1]["flops"].get<double>(), 2000.0);
  EXPECT_EQ(data["points"][2]["flops"].get<double>(), 4000.0);
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 (2 seeds) | 2.00K | -4.1000 |\n"));
  EXPECT_EQ(data["baseline"], 5.5);
  fs::remove_all(opt.out_dir);
}

// A FLOPs budget buys each shape its own number of steps: the budget line names the budget and the range
// of steps (the fixture's nl1 and nl4 records given 1.2e9 FLOPs, 12 and 3 steps) instead of one count.
TEST(Report, FlopsBudgetLineNamesTheStepRange) {
  const std::string dir = out_dir("flops_budget");
  fs::create_directories(dir);
  const RecordFile file = read_records(kFixture + "/runs.jsonl");
  {
    std::ofstream out(dir + "/runs.jsonl");
    for (const auto& [index, steps] : {std::pair<size_t, int>{0, 12}, {3, 3}}) {
      nlohmann::json r = file.records[index];
      r["budget"]["kind"] = "flops";
      r["budget"]["value"] = 1.2e9;
      r["budget"]["steps"] = steps;
      out << r.dump() << "\n";
    }
  }
  ReportOptions opt;
  opt.results_dir = dir;
  EXPECT_THAT(read(write_report(opt).report_md),
              HasSubstr("**Budget.** a flops budget of 1.20G per variant (3 to 12 steps) × batch 4 × (64 + 14) tokens"));
  fs::remove_all(dir);
}

// Without baseline.json the baseline comes from the records (the sweep runner may put it in the data
// block); without either, the report says none was recorded, and a damaged baseline.json is named.
TEST(Report, BaselineFromTheRecordsOrNone) {
  const std::string dir = out_dir("baseline");
  fs::create_directories(dir);
  const RecordFile file = read_records(kFixture + "/runs.jsonl");
  nlohmann::json first = file.records.front();
  {
    std::ofstream out(dir + "/runs.jsonl");
    out << first.dump() << "\n";
  }
  ReportOptions opt;
  opt.results_dir = dir;
  EXPECT_THAT(read(write_report(opt).report_md), HasSubstr("No unigram baseline was recorded"));
  // A damaged baseline.json is named as such, not taken for a sweep that never recorded one.
  std::ofstream(dir + "/baseline.json") << "{\"unigram_cross_ent";
  EXPECT_THAT(read(write_report(opt).report_md),
              HasSubstr("**Baseline.** " + dir + "/baseline.json:1:20: invalid JSON: "));
  EXPECT_THAT(summary_table(dir).text, HasSubstr("no unigram baseline: " + dir + "/baseline.json:1:20: invalid JSON: "));
  std::ofstream(dir + "/baseline.json") << R"({"split": "validation"})";
  EXPECT_THAT(read(write_report(opt).report_md),
              HasSubstr(dir + "/baseline.json: no number under 'unigram_cross_entropy' (a damaged file: rerun the sweep "
                              "command to recompute it)"));
  fs::remove(dir + "/baseline.json");
  first["data"]["unigram_baseline_nats"] = 6.25;
  first["data"]["baseline_split"] = "validation";
  {
    std::ofstream out(dir + "/runs.jsonl");
    out << first.dump() << "\n";
  }
  const std::string md = read(write_report(opt).report_md);
  EXPECT_THAT(md, HasSubstr("distribution on the validation split: the loss of the best predictor that ignores the "
                            "input) is 6.2500 nats"));
  EXPECT_THAT(md, HasSubstr("eval loss of 5.0000 nats, 1.2500 nats below the baseline"));
  fs::remove_all(dir);
}

// `report --summary`: every record's held-out loss against baseline.json, smallest model first, "—"
// for a run without an eval loss; deltas worked by hand (5.0 - 5.5, 4.75 - 5.5). Prints, writes nothing.
TEST(Report, SummaryTableByHand) {
  const std::string dir = out_dir("summary");
  fs::create_directories(dir);
  {
    std::ofstream out(dir + "/runs.jsonl");
    out << R"({"id": "mid", "status": "ok", "params": 2000000, "quality": {"eval_loss": 4.75}})" << "\n"
        << R"({"id": "small", "status": "ok", "params": 1000000, "quality": {"eval_loss": 5.0}})" << "\n"
        << R"({"id": "big", "status": "failed", "params": 3000000, "quality": {"eval_loss": null}})" << "\n";
    std::ofstream(dir + "/baseline.json") << R"({"unigram_cross_entropy": 5.5})";
  }
  auto row = [](const std::string& id, const std::string& status, const std::string& params, const std::string& loss) {
    return "  " + id + std::string(33 - id.size(), ' ') + status + std::string(9 - status.size(), ' ') + params +
           " params  " + loss + "\n";
  };
  const std::string want = "held-out loss (nats per target token; unigram baseline of the corpus 5.500):\n" +
                           row("small", "ok", " 1,000,000", "5.000 (-0.500 vs baseline)") +
                           row("mid", "ok", " 2,000,000", "4.750 (-0.750 vs baseline)") +
                           row("big", "failed", " 3,000,000", "—");
  EXPECT_EQ(summary_table(dir).text, want);
  EXPECT_TRUE(summary_table(dir).torn_lines.empty());
  EXPECT_EQ(summary_table(kFixture).torn_lines, std::vector<int64_t>{6});  // the fixture's torn last line
  const testing::CommandResult r = testing::t5scale("report " + dir + " --summary");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
  EXPECT_FALSE(fs::exists(dir + "/report.md"));  // nothing written
  const testing::CommandResult with_out = testing::t5scale("report " + dir + " --summary --out " + dir + "/x");
  EXPECT_EQ(with_out.exit_code, 1);
  EXPECT_THAT(with_out.err, HasSubstr("--summary prints to stdout and writes nothing"));
  EXPECT_FALSE(fs::exists(dir + "/x"));
  const testing::CommandResult torn = testing::t5scale("report " + kFixture + " --summary");
  EXPECT_EQ(torn.exit_code, 0) << torn.err;
  EXPECT_THAT(torn.err, HasSubstr("warning: 1 torn line (6) of "));
  fs::remove_all(dir);
}

TEST(Report, MissingRecordsIsAClearError) {
  ReportOptions opt;
  opt.results_dir = out_dir("missing");
  fs::create_directories(opt.results_dir);   // a directory without runs.jsonl (a missing one: cli_sweep_test)
  try {
    write_report(opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("runs.jsonl: no run records"));
  }
  fs::remove_all(opt.results_dir);
}

bool matplotlib_available() {
  return std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
}

TEST(Report, PlottingScriptWritesPngAndSvg) {
  if (!matplotlib_available()) GTEST_SKIP() << "/usr/bin/python3 has no matplotlib (apt install python3-matplotlib)";
  ReportOptions opt;
  opt.results_dir = kFixture;
  opt.out_dir = out_dir("plots");
  opt.plot_script = std::string(T5SCALE_SOURCE_DIR) + "/plotting/plot_report.py";
  const ReportOutput out = write_report(opt);
  EXPECT_EQ(out.plot_error, "");
  for (const char* stem :
       {"quality_vs_params", "quality_vs_flops", "quality_vs_step_time", "loss_curves", "depth_curve", "scaling_fit_0"})
    for (const char* ext : {".png", ".svg"}) {
      const std::string path = opt.out_dir + "/" + stem + ext;
      ASSERT_TRUE(fs::exists(path)) << path;
      EXPECT_GT(fs::file_size(path), 1000u) << path;
    }
  // A PNG starts with its signature; the SVG names a frontier point's label.
  EXPECT_EQ(read(opt.out_dir + "/quality_vs_params.png").substr(1, 3), "PNG");
  EXPECT_THAT(read(opt.out_dir + "/quality_vs_params.svg"), HasSubstr("tiny-nl2 (2 seeds)"));
  // The scaling-fit figure is drawn from fits.json: its title names the axis and the x.
  EXPECT_THAT(read(opt.out_dir + "/scaling_fit_0.svg"), HasSubstr("depth-fixture: nl vs parameters"));
  fs::remove_all(opt.out_dir);
}

// The plotting process killed (kill -9, Ctrl-C of the process group) in the middle of writing its
// third figure: every plot under its final name is whole (written to a temporary and renamed), and
// the next report writes them all with no temporary left behind. (savefig wrote the final names
// directly, so a kill left a torn PNG that the next look at the directory took for a plot.)
TEST(Report, PlotsKilledMidWriteAreNeverTorn) {
  if (!matplotlib_available()) GTEST_SKIP() << "/usr/bin/python3 has no matplotlib (apt install python3-matplotlib)";
  ReportOptions opt;
  opt.results_dir = kFixture;
  opt.out_dir = out_dir("plots_killed");
  fs::create_directories(opt.out_dir);
  const std::string script = std::string(T5SCALE_SOURCE_DIR) + "/plotting/plot_report.py";
  // Runs the real script with Figure.savefig replaced: the third call writes a few bytes where it
  // was told to and the process SIGKILLs itself, as a kill landing inside the PNG encoder would.
  opt.plot_script = opt.out_dir + "/killer.py";
  std::ofstream(opt.plot_script) << fmt::format(R"(import os, runpy, signal, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.figure
original = matplotlib.figure.Figure.savefig
calls = [0]
def savefig(self, fname, *args, **kwargs):
    calls[0] += 1
    if calls[0] == 3:
        with open(fname, "wb") as f:
            f.write(b"\x89PNG torn")
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, fname, *args, **kwargs)
matplotlib.figure.Figure.savefig = savefig
sys.argv = ["{0}"] + sys.argv[1:]
runpy.run_path("{0}", run_name="__main__")
)", script);
  const ReportOutput killed = write_report(opt);
  EXPECT_NE(killed.plot_error, "");
  int whole = 0;
  for (const auto& e : fs::directory_iterator(opt.out_dir)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".png" && ext != ".svg") continue;
    EXPECT_GT(fs::file_size(e.path()), 1000u) << e.path() << " is torn";
    ++whole;
  }
  EXPECT_EQ(whole, 2);   // the first figure's PNG and SVG

  fs::remove(opt.plot_script);
  opt.plot_script = script;
  const ReportOutput again = write_report(opt);
  EXPECT_EQ(again.plot_error, "");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(opt.out_dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(std::count_if(names.begin(), names.end(),
                          [](const std::string& n) { return n.ends_with(".png") || n.ends_with(".svg"); }),
            12);   // five report figures and the nl axis's scaling fit, each as PNG and SVG
  for (const std::string& n : names) EXPECT_THAT(n, Not(HasSubstr("tmp"))) << "left behind";
  fs::remove_all(opt.out_dir);
}

// A real sweep's records (docs/readme-sweep.json: nl 1, 2, 4 × seeds 0, 1 on the demo corpus, the
// run behind the README's picture): the report's frontiers equal a brute-force O(n²) Pareto check of
// the seed means computed here from the raw records, and the text states budget and baseline.
TEST(Report, RealSweepFrontiersMatchBruteForce) {
  const std::string dir = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/results/readme-depth";
  const RecordFile file = read_records(dir + "/runs.jsonl");
  ASSERT_EQ(file.records.size(), 6u);
  ASSERT_TRUE(file.torn_lines.empty());
  // Seed means by hand: group on the shape JSON's "name" (the id without its seed).
  std::map<std::string, std::vector<const nlohmann::json*>> groups;
  for (const auto& r : file.records) {
    ASSERT_EQ(r["status"], "ok");
    groups[r["shape"]["name"].get<std::string>()].push_back(&r);
  }
  ASSERT_EQ(groups.size(), 3u);
  struct Point { double params, flops, step_time, quality; std::string name; };
  std::vector<Point> points;
  for (const auto& [name, runs] : groups) {
    ASSERT_EQ(runs.size(), 2u) << name;
    Point p{0, 0, 0, 0, name};
    for (const nlohmann::json* r : runs) {
      p.params = (*r)["params"].get<double>();
      p.flops += (*r)["flops"]["total"].get<double>() / 2;
      p.step_time += (*r)["throughput"]["step_time_seconds"].get<double>() / 2;
      p.quality += -(*r)["quality"]["eval_loss"].get<double>() / 2;   // negative log-perplexity
    }
    points.push_back(p);
  }
  ReportOptions opt;
  opt.results_dir = dir;
  opt.out_dir = out_dir("real");
  const ReportOutput out = write_report(opt);
  for (const auto& [cost, field] : std::vector<std::pair<std::string, double Point::*>>{
           {"params", &Point::params}, {"flops", &Point::flops}, {"step_time", &Point::step_time}}) {
    std::set<std::string> expected;
    for (const auto& a : points) {
      bool dominated = false;
      for (const auto& b : points)
        dominated |= b.*field <= a.*field && b.quality >= a.quality && (b.*field < a.*field || b.quality > a.quality);
      if (!dominated) expected.insert(a.name + " (2 seeds)");
    }
    const auto frontier = nlohmann::json::parse(read(opt.out_dir + "/frontier_" + cost + ".json"));
    std::set<std::string> got;
    for (const auto& p : frontier["points"]) got.insert(p["id"].get<std::string>());
    EXPECT_EQ(got, expected) << cost;
  }
  const std::string md = read(out.report_md);
  EXPECT_THAT(md, HasSubstr("120 steps × batch 8 × (64 inputs + 14 targets) tokens = 74,880 tokens per variant"));
  const double baseline = nlohmann::json::parse(read(dir + "/baseline.json"))["unigram_cross_entropy"].get<double>();
  EXPECT_THAT(md, HasSubstr(fmt::format("is {:.4f} nats per target token", baseline)));
  EXPECT_THAT(md, HasSubstr("### nl\n"));
  EXPECT_THAT(md, HasSubstr("## Seeds"));
  // This sweep stored a ceiling measured under heavy load (0.876 GFLOP/s), below its runs' achieved
  // 1.94 GFLOP/s (nl1 seed 0: 1.63G FLOPs/step / 0.840 s): 1.9394 / 0.8763 = 221.3%, marked and explained.
  EXPECT_THAT(md, HasSubstr("| 0.840 | 743 | 221.3% † | 5.6137 |"));
  EXPECT_THAT(md, HasSubstr("† MFU above 100% is impossible: the sweep's GEMM ceiling (0.88 GFLOP/s, ceiling.json)"));
  // The runner's step logs ({"type": "step"|"eval"}): 120 training points and 4 evaluations per shape.
  const auto data = nlohmann::json::parse(read(opt.out_dir + "/report_data.json"));
  ASSERT_EQ(data["curves"].size(), 3u);
  for (const auto& curve : data["curves"]) {
    EXPECT_EQ(curve["train"].size(), 120u);
    EXPECT_EQ(curve["eval"].size(), 4u);
  }
  fs::remove_all(opt.out_dir);
}

// Paired seeds: every shape's seed k reads the same data, so the seed-to-seed swing is shared. Shape B
// is shape A + 0.1 at every seed while the seeds themselves swing by 1.0: the paired interval is
// exactly [+0.1, +0.1]; without seeds to pair (or with other seeds) each shape is resampled on its own
// and the interval is wide.
TEST(Report, PairedSeedsCancelTheSharedSwing) {
  auto shape = [](std::vector<double> q, std::vector<int64_t> seeds) {
    ShapeSummary s;
    s.qualities = std::move(q);
    s.seeds = std::move(seeds);
    return s;
  };
  const ShapeSummary a = shape({-5.0, -4.0, -4.5, -3.5}, {0, 1, 2, 3});
  const ShapeSummary b = shape({-3.4, -4.9, -4.4, -3.9}, {3, 0, 2, 1});   // A + 0.1, in another record order
  EXPECT_EQ(effect_interval({&b}, {&a}), "[+0.1000, +0.1000] (8 seeds, paired)");
  const ShapeSummary b_unknown = shape(b.qualities, {});
  const std::string unpaired = effect_interval({&b_unknown}, {&a});
  EXPECT_THAT(unpaired, Not(HasSubstr("paired")));
  double lo = 0, hi = 0;
  ASSERT_EQ(std::sscanf(unpaired.c_str(), "[%lf, %lf]", &lo, &hi), 2) << unpaired;
  EXPECT_LT(lo, -0.2);
  EXPECT_GT(hi, 0.4);
  const ShapeSummary b_other = shape(b.qualities, {4, 5, 6, 7});
  EXPECT_THAT(effect_interval({&b_other}, {&a}), Not(HasSubstr("paired")));
}

// A synthetic sweep written as the sweep runner writes records (make_record), whose seed means follow
// a known law exactly (the seeds sit at mean − 0.01, mean, mean + 0.01): report.md gains the
// "Scaling-law fits" section and fits.json the fitted numbers, recovered to 1e-6, with each true value
// inside its bootstrap interval and the extrapolation check's error ~0; the seeds' eval standard
// errors appear beside the seed spread.
RecordParts synthetic_run(const std::string& shape_name, const nlohmann::json& shape, int seed, int64_t params,
                          double flops_total, double loss, double eval_se,
                          const std::vector<double>& batch_offsets = {}) {
  RecordParts p;
  p.id = fmt::format("{}-s{}", shape_name, seed);
  p.sweep = "fits-synthetic";
  p.seed = uint64_t(seed);
  p.shape = shape;
  p.shape["name"] = shape_name;
  p.params = params;
  p.train_flops_per_step = flops_total / 10;
  p.forward_flops_per_example = flops_total / 120;
  p.budget_value = 10;
  p.steps = p.steps_done = 10;
  p.batch = 4;
  p.inputs_length = 64;
  p.targets_length = 14;
  p.settings = {{"optimizer", "adafactor"}, {"lr", 0.01}, {"schedule", "constant"}, {"warmup_steps", 0}};
  p.throughput = measure_throughput({0.1, 0.1}, 4, 64, 14, p.train_flops_per_step, 0, 1 << 20);
  p.eval_loss = loss;
  p.eval_tokens = 896;
  p.eval_batches = 16;
  p.eval_loss_standard_error = eval_se;
  p.eval_batch_losses = batch_offsets;
  for (double& l : p.eval_batch_losses) l += loss;
  p.eval_batch_tokens.assign(batch_offsets.size(), 224);
  p.final_train_loss = loss;
  p.data = {{"source", "synthetic"}};
  return p;
}

std::string write_sweep(const std::string& name, const std::vector<RecordParts>& runs) {
  const std::string dir = out_dir(name);
  fs::create_directories(dir);
  std::ofstream out(dir + "/runs.jsonl");
  for (const auto& r : runs) {
    nlohmann::ordered_json rec = make_record(r);
    rec["flops"]["total"] = r.train_flops_per_step * double(r.steps);
    out << rec.dump() << "\n";
  }
  return dir;
}

// Four eval batches of 224 tokens whose losses sit at the run's loss + (0.02, −0.01, 0.03, −0.04) ·
// (1 + 0.1·nl): a shape's batch pattern, the same for its seeds.
std::vector<double> batch_offsets(int nl) {
  std::vector<double> out;
  for (double base : {0.02, -0.01, 0.03, -0.04}) out.push_back(base * (1 + 0.1 * nl));
  return out;
}

TEST(Report, ScalingFitsSectionAndFitsJson) {
  const double E = 2.0, A = 300.0, alpha = 0.3;
  std::vector<RecordParts> runs;
  for (int nl : {1, 2, 4, 8, 16}) {
    const nlohmann::json shape = {{"el", nl}, {"dl", nl}, {"dm", 128}, {"ff", 512}, {"kv", 32}, {"nh", 4}};
    const int64_t params = 1000000 + 250000 * nl;
    const double mean = E + A * std::pow(double(params), -alpha);
    for (int seed = 0; seed < 3; ++seed)
      runs.push_back(synthetic_run(fmt::format("tiny-nl{}", nl), shape, seed, params, 1e12 * nl, mean + 0.01 * (seed - 1),
                                   0.003 + 0.001 * seed, batch_offsets(nl)));
  }
  const std::string dir = write_sweep("fits", runs);
  ReportOptions opt;
  opt.results_dir = dir;
  const ReportOutput out = write_report(opt);
  const std::string md = read(out.report_md);
  EXPECT_THAT(md, HasSubstr("## Scaling-law fits\n"));
  EXPECT_THAT(md, HasSubstr("### nl: 5 shapes (tiny-nl1 … tiny-nl16)\n"));
  EXPECT_THAT(md, HasSubstr("- against parameters (5 shapes, 15 seeds): E = 2.0000 ["));
  EXPECT_THAT(md, HasSubstr("alpha = 0.3000 ["));
  EXPECT_THAT(md, HasSubstr("- against training FLOPs (5 shapes, 15 seeds): E = "));
  EXPECT_THAT(md, HasSubstr("Extrapolation check: fitted on the 4 smaller shapes, the law predicts"));
  EXPECT_THAT(md, HasSubstr("at tiny-nl16 (5.00M params); measured"));
  EXPECT_THAT(md, HasSubstr("(3 seeds); relative error +0.00%; the measured loss is inside the predicted interval."));
  EXPECT_THAT(md, Not(HasSubstr("do not fall monotonically")));
  EXPECT_THAT(md, HasSubstr("![scaling fits: nl](scaling_fit_0.png)"));
  ASSERT_TRUE(std::find(out.files.begin(), out.files.end(), dir + "/fits.json") != out.files.end());

  const nlohmann::json fits = nlohmann::json::parse(read(dir + "/fits.json"));
  EXPECT_EQ(fits["huber_delta"], 1e-3);
  EXPECT_EQ(fits["bootstrap"]["resamples"], 200);
  ASSERT_EQ(fits["axes"].size(), 1u);   // one nl family that is the whole sweep: no "all shapes" fit
  const auto& axis = fits["axes"][0];
  EXPECT_EQ(axis["axis"], "nl");
  ASSERT_EQ(axis["fits"].size(), 2u);
  const auto& by_params = axis["fits"][0];
  EXPECT_EQ(by_params["x"], "params");
  const auto& par = by_params["fit"]["parameters"];
  const double truth[] = {E, A, alpha};
  const char* names[] = {"E", "A", "alpha"};
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(par[names[j]]["value"].get<double>(), truth[j], 1e-6 * truth[j]) << names[j];
    EXPECT_LE(par[names[j]]["lo"].get<double>(), truth[j]) << names[j];
    EXPECT_GE(par[names[j]]["hi"].get<double>(), truth[j]) << names[j];
  }
  EXPECT_EQ(by_params["fit"]["shapes"], 5);
  EXPECT_EQ(by_params["fit"]["seeds"], 15);
  EXPECT_EQ(by_params["fit"]["bootstrap"]["rounds"], 200);
  const auto& e = by_params["extrapolation"];
  EXPECT_EQ(e["held_out"], nlohmann::json::array({"tiny-nl16"}));
  EXPECT_NEAR(e["relative_error"].get<double>(), 0, 1e-6);
  EXPECT_NEAR(e["measured"].get<double>(), E + A * std::pow(5e6, -alpha), 1e-12);
  EXPECT_NEAR(e["measured_std"].get<double>(), 0.01, 1e-12);
  // The plotted curve: the law at its x, the band around it.
  for (const auto& row : by_params["curve"]) {
    EXPECT_NEAR(row[1].get<double>(), E + A * std::pow(row[0].get<double>(), -alpha), 1e-6);
    EXPECT_LE(row[2].get<double>(), row[1].get<double>() + 1e-9);
    EXPECT_GE(row[3].get<double>(), row[1].get<double>() - 1e-9);
  }
  // Evaluation noise: the eval SE of each shape is the rms of its seeds' 0.003, 0.004, 0.005 =
  // sqrt(50/3)·1e-3 = 0.0041, beside the seed std of 0.0100.
  EXPECT_THAT(md, HasSubstr("| tiny-nl2 | 3 | -6.2101 ± 0.0100 |"));   // −(2 + 300 · 1.5e6^−0.3)
  EXPECT_THAT(md, HasSubstr(" | 0.0041 |\n"));
  EXPECT_THAT(md, HasSubstr("**Evaluation noise.** Each run's held-out loss is a mean over 16 eval batches (896 label "
                            "tokens); its standard error over those batches (the ratio estimator's, core/trainer.h) is "
                            "0.0030–0.0050 nats across the 15 runs that recorded it. The seed spread (sample std over "
                            "seeds) of the shapes with several seeds is 0.0100–0.0100 nats"));
  // The per-knob table: Δ interval, the paired eval SE of Δ, the per-run eval SE. nl 2 against nl 1:
  // batch by batch Δ = (0.02, −0.01, 0.03, −0.04) · 0.1 + the Δ of the means; equal tokens, so its SE
  // is 0.1 · std(0.02, −0.01, 0.03, −0.04) / sqrt(4) = 0.1 · sqrt(0.003/3) / 2 = 0.0016; nl 4: 0.0047.
  EXPECT_THAT(md, HasSubstr("(6 seeds, paired) | 0.0016 | 0.0041 |\n"));
  EXPECT_THAT(md, HasSubstr("(6 seeds, paired) | 0.0047 | 0.0041 |\n"));
  EXPECT_THAT(md, HasSubstr("\"eval SE of Δ (paired)\", the standard error of that Δ over the eval batches"));
  fs::remove_all(dir);
}

// el and dl varied separately: the encoder-decoder form of Ghorbani et al. over the encoder's and
// decoder's block parameters recovers its exponents; a sweep of fewer than three values of a knob
// records "not enough points" instead of a fit.
TEST(Report, EncoderDecoderFitAndTooFewPoints) {
  const double L_inf = 1.8, A = 50.0, p_e = 0.15, p_d = 0.35;
  std::vector<RecordParts> runs;
  for (int el : {2, 4, 8})
    for (int dl : {2, 4, 8}) {
      const nlohmann::json shape = {{"el", el}, {"dl", dl}, {"dm", 128}, {"ff", 512}, {"kv", 32}, {"nh", 4}};
      const ParamBreakdown pb = count_params(shape_from_json(shape, "test"));
      const double loss = A * std::pow(double(pb.encoder), -p_e) * std::pow(double(pb.decoder), -p_d) + L_inf;
      runs.push_back(synthetic_run(fmt::format("tiny-el{}-dl{}", el, dl), shape, 0, pb.total, 1e12 * (el + dl), loss,
                                   std::nan("")));
    }
  const std::string dir = write_sweep("fits_ed", runs);
  ReportOptions opt;
  opt.results_dir = dir;
  const std::string md = read(write_report(opt).report_md);
  const nlohmann::json fits = nlohmann::json::parse(read(dir + "/fits.json"));
  const nlohmann::json* ed = nullptr;
  for (const auto& axis : fits["axes"])
    if (axis["axis"] == "el,dl") ed = &axis;
  ASSERT_NE(ed, nullptr) << fits.dump(1);
  const auto& fit = (*ed)["fits"][0]["fit"];
  EXPECT_EQ(fit["form"], "encoder_decoder");
  EXPECT_NEAR(fit["parameters"]["p_e"]["value"].get<double>(), p_e, 1e-6);
  EXPECT_NEAR(fit["parameters"]["p_d"]["value"].get<double>(), p_d, 1e-6);
  EXPECT_NEAR(fit["parameters"]["L_inf"]["value"].get<double>(), L_inf, 1e-6);
  EXPECT_THAT(md, HasSubstr("- against encoder, decoder block parameters (9 shapes, 9 seeds): L_inf = 1.8000, A = "));
  EXPECT_THAT(md, HasSubstr("one seed per shape: nothing to resample, no interval"));
  // The el axis at each fixed dl has three values (a power-law fit); the el,dl family is the whole
  // sweep, so there is no separate "all shapes" fit. No record has an eval SE: no evaluation-noise
  // paragraph.
  EXPECT_THAT(md, HasSubstr("### el: 3 shapes (tiny-el2-dl2 … tiny-el8-dl2)\n"));
  EXPECT_THAT(md, Not(HasSubstr("### all shapes")));
  EXPECT_THAT(md, Not(HasSubstr("**Evaluation noise.**")));
  fs::remove_all(dir);

  // Two depths only: a section that says why there is no fit.
  const std::string two = write_sweep("fits_two", {runs[0], runs[4]});   // el2-dl2, el4-dl4
  opt.results_dir = two;
  EXPECT_THAT(read(write_report(opt).report_md),
              HasSubstr("- against parameters: no fit — not enough points: 2 distinct x values, a fit of 3 parameters needs 3.\n"));
  fs::remove_all(two);
}

}  // namespace
}  // namespace t5
