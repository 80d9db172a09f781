// Damaged files as a user meets them after a crash, a bad disk or a hand edit: a training checkpoint
// whose state.json lost a key or holds a wrong type, an optimizer.safetensors whose tensor names do
// not match, a safetensors header with stray bytes. Each is one line naming the file and the place
// (cli_runner.h's expect_one_line_error; train's comes after its opening line), never an "internal
// error" with nlohmann's exception text. A 1/1-layer dm-16 model keeps every run under a second.
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::CommandResult;
using testing::t5scale;

class CliCorruptFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    // vocab 1152 holds the fixture tokenizer's 1000 pieces + 100 sentinels.
    scratch_.write("shape.json", R"({"el": 1, "dl": 1, "dm": 16, "ff": 24, "kv": 4, "nh": 2, "vocab_size": 1152})");
  }
  std::string path(const std::string& name) const { return scratch_.path(name); }
  // `train` of the shape on `data` ("synthetic" or the fixture corpus), 2 steps, checkpoint in ck/.
  std::string train_args(const std::string& data, int steps) const {
    return fmt::format("train --model {} --steps {} --batch 2 --inputs-length 32 --checkpoint-dir {} --data {}",
                       path("shape.json"), steps, path("ck"), data);
  }
  std::string fixture_data() const { return std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data"; }
  nlohmann::json state() const { return nlohmann::json::parse(testing::slurp(path("ck/state.json"))); }
  void set_state(const nlohmann::json& s) const { scratch_.write("ck/state.json", s.dump(2)); }
  testing::ScratchDir scratch_{"t5scale-cli-corrupt"};
};

// train's error after its opening line (it reads the checkpoint once the run is described): exit 1,
// nothing on stdout, the opening line and one error line holding `what`, no nlohmann text.
void expect_train_error(const CommandResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(testing::lines(r.err), 2) << r.err;
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_THAT(last, ::testing::StartsWith("t5scale train: error: "));
  EXPECT_THAT(last, HasSubstr(what));
  EXPECT_THAT(last, Not(HasSubstr("json.exception")));
}

// state.json with a key missing or of the wrong type: '<ck>/state.json: key 'K' ...' (was: 'internal
// error: [json.exception.out_of_range.403] key 'data_position' not found', or a data position error
// naming no file with the position dumped whole and nlohmann's text).
TEST_F(CliCorruptFiles, CheckpointStateKeysMissingOrMistypedNameFileAndKey) {
  for (const std::string& data : {std::string("synthetic"), fixture_data()}) {
    SCOPED_TRACE(data);
    std::filesystem::remove_all(path("ck"));
    const CommandResult first = t5scale(train_args(data, 2));
    ASSERT_EQ(first.exit_code, 0) << first.err;
    const nlohmann::json good = state();
    const std::string where = path("ck/state.json");
    for (const char* key : {"data_position", "step", "rng", "optimizer", "data", "grad_accum"}) {
      nlohmann::json s = good;
      s.erase(key);
      set_state(s);
      expect_train_error(t5scale(train_args(data, 4) + " --resume"), fmt::format("{}: key '{}' is missing", where, key));
    }
    nlohmann::json s = good;
    s["step"] = "two";
    set_state(s);
    expect_train_error(t5scale(train_args(data, 4) + " --resume"), where + ": key 'step': ");

    s = good;
    nlohmann::json& position = s["data_position"];
    const std::string moved = position.contains("file") ? "file" : "example";
    position["fiLe"] = position[moved];
    position.erase(moved);
    set_state(s);
    const CommandResult pos = t5scale(train_args(data, 4) + " --resume");
    expect_train_error(pos, where + ": key 'data_position': ");
    EXPECT_THAT(pos.err, HasSubstr(moved));

    set_state(good);
    const CommandResult resumed = t5scale(train_args(data, 4) + " --resume");
    EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  }
}

// optimizer.safetensors whose tensor names do not match the model (one letter of a name flipped in
// the header, which stays valid JSON): the error names that file (it said only 'optimizer state:
// missing tensor ...').
TEST_F(CliCorruptFiles, OptimizerStateMismatchNamesItsFile) {
  const CommandResult first = t5scale(train_args("synthetic", 2));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string bytes = testing::slurp(path("ck/optimizer.safetensors"));
  const size_t at = bytes.find("SelfAttention");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'Z';
  std::ofstream(path("ck/optimizer.safetensors"), std::ios::binary) << bytes;
  expect_train_error(t5scale(train_args("synthetic", 4) + " --resume"),
                     path("ck/optimizer.safetensors") + ": optimizer state: missing tensor '");
}

// A safetensors header that is not valid JSON: the place and the reason without nlohmann's
// '[json.exception.parse_error.101] parse error at line 1, column N:' and without raw bytes (a
// flipped bit made the terminal print a broken character).
TEST_F(CliCorruptFiles, SafetensorsHeaderSyntaxErrorIsCleanText) {
  const std::string header = "{\"a\":\xff}";
  std::string file(8, '\0');
  file[0] = char(header.size());
  file += header;
  std::ofstream(path("bad.safetensors"), std::ios::binary) << file;
  scratch_.write("batch.json", R"({"input_ids": [[5, 6, 1]], "labels": [[8, 1]]})");
  const CommandResult r = t5scale(fmt::format("loss --model {} --weights {} --batch {}", path("shape.json"),
                                              path("bad.safetensors"), path("batch.json")));
  testing::expect_one_line_error(r, "loss", path("bad.safetensors") + ": header is not valid JSON (byte 6 of the header): ");
  EXPECT_THAT(r.err, Not(HasSubstr("json.exception")));
  EXPECT_THAT(r.err, HasSubstr("\\xff"));
  EXPECT_EQ(r.err.find('\xff'), std::string::npos) << r.err;
}

}  // namespace
}  // namespace t5
