// Bad input to init, loss, step and train as a user meets it: malformed files, negative seeds,
// out-of-range hyper-parameters and output paths that cannot be written each give one line on stderr
// naming the option or file (cli_runner.h's expect_one_line_error: exit 1, nothing on stdout), are
// caught before any long work, and leave no output file behind. A model of 8,704 parameters keeps
// every run well under a second.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::CommandResult;
using testing::expect_one_line_error;
using testing::t5scale;

class CliBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    write("tiny.json", R"({"el": 2, "dl": 2, "dm": 16, "ff": 24, "kv": 4, "nh": 3, "vocab_size": 40})");
    write("batch.json", R"({"input_ids": [[5, 6, 7, 1], [9, 3, 1, 0]], "labels": [[8, 9, 1], [4, 1, -100]]})");
    write("a_file", "not a directory");
    const CommandResult init = t5scale(fmt::format("init --model {} --seed 3 --out {}", path("tiny.json"), path("w")));
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  std::string path(const std::string& name) const { return scratch_.path(name); }
  void write(const std::string& name, const std::string& text) const { scratch_.write(name, text); }
  // --model, --weights and --batch of loss and step.
  std::string inputs() const {
    return fmt::format("--model {} --weights {} --batch {}", path("tiny.json"), path("w"), path("batch.json"));
  }
  // Every file in the scratch directory and below, relative to it, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(scratch_.dir()))
      names.push_back(fs::relative(e.path(), scratch_.dir()).string());
    std::sort(names.begin(), names.end());
    return names;
  }
  testing::ScratchDir scratch_{"t5scale-cli-bad-input"};
};

TEST_F(CliBadInput, MalformedShapeFilesNameFileAndPlace) {
  write("trunc.json", "{\"el\": 2,\n \"dl\": ");
  expect_one_line_error(t5scale("info " + path("trunc.json")), "info", path("trunc.json") + ":2:8: invalid JSON: ");
  write("big.json", R"({"d_model": 1e999, "d_kv": 8, "d_ff": 8, "num_layers": 1, "num_heads": 1})");
  const CommandResult big = t5scale("info " + path("big.json"));
  expect_one_line_error(big, "info", path("big.json") + ": invalid JSON: number overflow parsing '1e999'");
  EXPECT_THAT(big.err, Not(HasSubstr("internal error")));
  write("unknown.json", R"({"el": 2, "dl": 2, "dm": 16, "ff": 24, "kv": 4, "nh": 3, "heads": 3})");
  expect_one_line_error(t5scale("info " + path("unknown.json")), "info", path("unknown.json") + ": unknown key 'heads'");
  // An unknown feed-forward kind names the file and the key in our shape JSON as in a config.json.
  write("swish.json", R"({"el": 2, "dl": 2, "dm": 16, "ff": 24, "kv": 4, "nh": 3, "feed_forward_proj": "swish"})");
  expect_one_line_error(t5scale("info " + path("swish.json")), "info",
                        path("swish.json") + ": key 'feed_forward_proj': unknown feed-forward kind 'swish' (hint: ");
  write("config.json", R"({"d_model": 16, "d_kv": 4, "d_ff": 24, "num_layers": 2, "num_heads": 3,
                           "feed_forward_proj": 7})");
  expect_one_line_error(t5scale("info " + path("config.json")), "info",
                        path("config.json") + ": key 'feed_forward_proj' must be a string, got 7\n");
  expect_one_line_error(t5scale("info " + path("absent.json")), "info",
                        path("absent.json") + ": cannot open: No such file or directory");
  // A batch file with a syntax error: loss and step name its line and column too.
  write("bad_batch.json", "{\"input_ids\": [[5, 6]],\n \"labels\": [[8,]]}");
  for (const char* command : {"loss", "step"}) {
    const std::string out = command == std::string("loss") ? "--grads-out " + path("g.safetensors")
                                                           : "--out " + path("o.safetensors");
    expect_one_line_error(t5scale(fmt::format("{} --model {} --weights {} --batch {} {}", command, path("tiny.json"),
                                              path("w"), path("bad_batch.json"), out)),
                          command, path("bad_batch.json") + ":2:16: invalid JSON: ");
  }
  EXPECT_FALSE(fs::exists(path("g.safetensors")));
  EXPECT_FALSE(fs::exists(path("o.safetensors")));
}

// A key written twice in one object would let the later value win unseen (a spec's "lr" given twice, a
// config with two "num_layers"): one line naming the file and the key's path, for every JSON reader.
TEST_F(CliBadInput, KeyGivenTwiceIsOneLineNamingIt) {
  write("twice.json", R"({"el": 2, "dl": 2, "dm": 16, "ff": 24, "kv": 4, "nh": 3, "el": 5})");
  expect_one_line_error(t5scale("info " + path("twice.json")), "info",
                        path("twice.json") + ": key 'el' appears twice in one object (hint: give each key once)");
  write("twice_batch.json", R"({"input_ids": [[5, 6, 1]], "labels": [[8, 1]], "labels": [[9, 1]]})");
  expect_one_line_error(t5scale(fmt::format("loss --model {} --weights {} --batch {}", path("tiny.json"), path("w"),
                                            path("twice_batch.json"))),
                        "loss", path("twice_batch.json") + ": key 'labels' appears twice");
  write("spec.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [1]}, "budget": {"steps": 10, "steps": 20},
      "batch": 8, "inputs_length": 64, "targets_length": 14, "data": {"source": "synthetic"}})");
  expect_one_line_error(t5scale("sweep " + path("spec.json") + " --dry-run --assume-gflops 100"), "sweep",
                        path("spec.json") + ": key 'budget.steps' appears twice in one object");
  // The same key in different objects (arrays of objects included) is fine.
  write("spec_ok.json", R"({"name": "d", "shapes": ["tiny-nl1"], "budget": {"steps": 10}, "eval": {"every": 5},
      "batch": 8, "inputs_length": 64, "targets_length": 14, "data": {"source": "synthetic"}})");
  const CommandResult ok = t5scale("sweep " + path("spec_ok.json") + " --dry-run --assume-gflops 100");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(CliBadInput, SeedsAreWholeNonNegativeNumbers) {
  // Boost would read "-1" as 2^64 - 1 and run with it.
  expect_one_line_error(t5scale(fmt::format("init --model {} --seed -1 --out {}", path("tiny.json"), path("n"))),
                        "init", "--seed: '-1' is not a seed in [0, 2^64)");
  expect_one_line_error(t5scale(fmt::format("train --model {} --steps 1 --seed -3", path("tiny.json"))), "train",
                        "--seed: '-3' is not a seed");
  expect_one_line_error(t5scale(fmt::format("train --model {} --steps 1 --init-seed 1.5", path("tiny.json"))), "train",
                        "--init-seed: '1.5' is not a seed");
  expect_one_line_error(t5scale(fmt::format("init --model {} --out {}", path("tiny.json"), path("n"))), "init",
                        "'--seed' is required");
  EXPECT_FALSE(fs::exists(path("n")));
  // The largest seed is accepted and printed as given.
  const CommandResult max =
      t5scale(fmt::format("init --model {} --seed 18446744073709551615 --out {}", path("tiny.json"), path("m")));
  ASSERT_EQ(max.exit_code, 0) << max.err;
  EXPECT_THAT(max.out, HasSubstr("\tseed 18446744073709551615\n"));
}

TEST_F(CliBadInput, InitOutputsAreCheckedAndNeverHalfWritten) {
  const std::string tiny = path("tiny.json");
  // An empty --out used to write model.safetensors and config.json into the working directory.
  expect_one_line_error(t5scale(fmt::format("init --model {} --seed 1 --out ''", tiny)), "init", "--out: empty path");
  expect_one_line_error(t5scale(fmt::format("init --model {} --seed 1 --out {}", tiny, path("a_file/w.safetensors"))),
                        "init", fmt::format("--out {}: exists and is not a directory", path("a_file")));
  expect_one_line_error(t5scale(fmt::format("init --model {} --seed 1 --out {}", tiny, path("a_file/sub/dir"))), "init",
                        fmt::format("--out {}: '{}' is not a directory", path("a_file/sub/dir"), path("a_file")));
  // config.json cannot be written (a directory is in the way): the weights must not land either.
  fs::create_directories(path("blocked/config.json"));
  expect_one_line_error(t5scale(fmt::format("init --model {} --seed 1 --out {}", tiny, path("blocked/w.safetensors"))),
                        "init", path("blocked/config.json") + ": is a directory, not a file");
  const std::vector<std::string> expected = {"a_file", "batch.json", "blocked", "blocked/config.json", "tiny.json",
                                             "w", "w/config.json", "w/model.safetensors"};
  EXPECT_EQ(files(), expected);
}

TEST_F(CliBadInput, LossAndStepCheckOutputsBeforeComputing) {
  expect_one_line_error(t5scale(fmt::format("loss {} --grads-out {}", inputs(), path("nodir/g.safetensors"))), "loss",
                        fmt::format("--grads-out {}: directory '{}' does not exist", path("nodir/g.safetensors"),
                                    path("nodir")));
  expect_one_line_error(t5scale(fmt::format("loss {} --grads-out ''", inputs())), "loss", "--grads-out: empty path");
  expect_one_line_error(t5scale(fmt::format("step {} --out {}", inputs(), path("w"))), "step",
                        fmt::format("--out {}: is a directory", path("w")));
  // --state-out cannot be written: --out must not be written either (weights without their state).
  expect_one_line_error(
      t5scale(fmt::format("step {} --out {} --state-out {}", inputs(), path("o.safetensors"), path("a_file/s"))), "step",
      fmt::format("--state-out {}: directory '{}' does not exist", path("a_file/s"), path("a_file")));
  expect_one_line_error(t5scale(fmt::format("step {} --out {} --state-out {}", inputs(), path("o.safetensors"),
                                            path("o.safetensors"))),
                        "step", "the same file as --out");
  // A state file that is not safetensors: the error names the file once.
  const CommandResult state = t5scale(fmt::format("step {} --out {} --state-in {}", inputs(), path("o.safetensors"),
                                                  path("batch.json")));
  expect_one_line_error(state, "step", path("batch.json") + ": header length");
  EXPECT_THAT(state.err, Not(HasSubstr(path("batch.json") + ": " + path("batch.json"))));
  const std::vector<std::string> expected = {"a_file", "batch.json", "tiny.json", "w", "w/config.json",
                                             "w/model.safetensors"};
  EXPECT_EQ(files(), expected);
  // With good paths both files land.
  const CommandResult ok = t5scale(fmt::format("step {} --out {} --state-out {}", inputs(), path("o.safetensors"),
                                               path("s.safetensors")));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(fs::exists(path("o.safetensors")));
  EXPECT_TRUE(fs::exists(path("s.safetensors")));
}

TEST_F(CliBadInput, HyperParametersOutOfRange) {
  struct Case {
    std::string command, options, expected;
  };
  const std::string step = fmt::format("step {} --out {}", inputs(), path("o.safetensors"));
  const std::string train = fmt::format("train --model {} --steps 2 --batch 2 --json-out {}", path("tiny.json"),
                                        path("r.jsonl"));
  const std::vector<Case> cases = {
      {step, "--lr inf", "--lr must be a finite positive number, got inf"},
      {step, "--lr nan", "--lr must be a finite positive number, got nan"},
      {step, "--update-clip -1", "--update-clip must be a finite number >= 0, got -1"},
      {step, "--decay-exponent 0", "--decay-exponent must be a finite positive number, got 0"},
      {step, "--weight-decay inf", "--weight-decay must be a finite number >= 0, got inf"},
      {step, "--optimizer adamw --eps inf", "--eps must be a finite positive number, got inf"},
      {train, "--warmup -5", "--warmup must not be negative, got -5"},
      {train, "--z-loss -1", "--z-loss must be a finite number >= 0, got -1"},
      {train, "--schedule cosine --final-fraction 2", "--final-fraction must be in [0, 1], got 2"},
      {train, "--dropout 1", "--dropout must be in [0, 1), got 1"},
      {train, "--eval-every 1 --eval-batches 0", "--eval-batches must be at least 1, got 0"},
      {train, "--inputs-length 2000000", "--inputs-length = 2000000 is larger than t5scale supports"},
      {train, "--lr 1e999", "--lr"},
      {train, "--threads -2", "--threads must not be negative, got -2"},
      {step, "--threads -1", "--threads must not be negative, got -1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.options);
    // One line: the check comes before the run's opening line on stderr.
    expect_one_line_error(t5scale(c.command + " " + c.options), c.command.substr(0, c.command.find(' ')), c.expected);
  }
  EXPECT_FALSE(fs::exists(path("o.safetensors")));
  EXPECT_FALSE(fs::exists(path("r.jsonl")));
}

TEST_F(CliBadInput, TrainChecksOutputsBeforeTraining) {
  const std::string train = fmt::format("train --model {} --steps 2 --batch 2", path("tiny.json"));
  // Before, a missing --json-out directory failed only after the last step, losing the whole run.
  expect_one_line_error(t5scale(train + " --json-out " + path("nodir/r.jsonl")), "train",
                        fmt::format("--json-out {}: directory '{}' does not exist", path("nodir/r.jsonl"),
                                    path("nodir")));
  expect_one_line_error(t5scale(train + " --json-out ''"), "train", "--json-out: empty path");
  expect_one_line_error(t5scale(train + " --checkpoint-dir " + path("a_file/ck")), "train",
                        fmt::format("--checkpoint-dir {}: '{}' is not a directory", path("a_file/ck"),
                                    path("a_file")));
  // --resume with nothing to resume says so, then trains from step 0.
  const CommandResult fresh = t5scale(train + " --resume --checkpoint-dir " + path("ck"));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_THAT(fresh.err, HasSubstr(fmt::format("--resume: no checkpoint in {} yet; starting at step 0", path("ck"))));
  EXPECT_EQ(nlohmann::json::parse(fresh.out)["resumed_from"], 0);
  EXPECT_EQ(nlohmann::json::parse(fresh.out)["steps"], 2);
}

// A shape whose training estimate (t5scale info's: weights, gradients, optimizer state, activations)
// exceeds the machine's memory is refused by train and bench before anything is allocated, naming
// both figures, as sweep skips such a variant; they used to allocate until std::bad_alloc (or, below
// the overcommit limit, until the kernel's OOM killer ended the process with no message at all).
TEST_F(CliBadInput, TrainRefusesAShapeLargerThanMemoryUpFront) {
  const CommandResult r = t5scale("train --model xxl-dm100000 --steps 1 --batch 1 --inputs-length 16 --targets-length 16");
  // 9,048,229,451,264 bytes (info xxl-dm100000 --batch 1 --inputs-length 16 --targets-length 16 --json:
  // training_total_bytes) / 2^30 = 8426.8 GiB.
  expect_one_line_error(r, "train", "xxl-dm100000: training needs about 8426.8 GiB, more than the ");
  EXPECT_THAT(r.err, HasSubstr(" GiB this machine has (hint: a smaller shape, --batch or --inputs-length"));
  // bench trains the same steps: the same estimate and line.
  expect_one_line_error(
      t5scale("bench --model xxl-dm100000 --batch 1 --inputs-length 16 --targets-length 16 --optimizer adafactor"),
      "bench", "xxl-dm100000: training needs about 8426.8 GiB, more than the ");
}

TEST_F(CliBadInput, OutOfMemoryIsOneLineNotACrash) {
  // 600 MB of address space cannot hold t5-efficient-base's 222,903,552 float32 parameters (892 MB).
  const std::string cmd = fmt::format("ulimit -v 600000; {} init --model base --seed 1 --out {} > {} 2> {}",
                                      T5SCALE_BINARY, path("base"), path("out.txt"), path("err.txt"));
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_EQ(testing::slurp(path("out.txt")), "");
  EXPECT_EQ(testing::slurp(path("err.txt")),
            "t5scale init: error: out of memory (hint: a smaller shape, --batch or --inputs-length; 't5scale info' "
            "estimates the training memory)\n");
  EXPECT_FALSE(fs::exists(path("base")));
}

}  // namespace
}  // namespace t5
