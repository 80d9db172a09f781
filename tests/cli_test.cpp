// The t5scale binary (T5SCALE_BINARY) as a user meets it: exit codes, one-line errors on stderr with
// nothing on stdout, and --json output that parses and holds the required fields.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using t5::testing::CommandResult;
using t5::testing::expect_one_line_error;
using t5::testing::lines;
using t5::testing::t5scale;

TEST(Cli, InfoText) {
  const CommandResult r = t5scale("info base small-dl4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("222,903,552"));
  EXPECT_THAT(r.out, HasSubstr("141.98G"));  // SPEC.md §3: ≈ 142.0 GFLOP forward per example
  EXPECT_THAT(r.out, HasSubstr("54.52T"));   // ≈ 54.5 TFLOP per 128-example step
  EXPECT_EQ(lines(r.out), 4);                // lengths line, header, two rows
}

TEST(Cli, InfoJsonHasRequiredFields) {
  const CommandResult r = t5scale("info t5-efficient-base t5-v1_1-small --json --batch 64 --inputs-length 128 --targets-length 29");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  for (const auto& s : j) {
    for (const char* key : {"name", "el", "dl", "dm", "ff", "kv", "nh", "vocab_size", "feed_forward_proj",
                            "tie_word_embeddings", "params", "params_breakdown", "flops", "memory"})
      EXPECT_TRUE(s.contains(key)) << key;
    EXPECT_TRUE(s["params"].is_number_integer());
    for (const char* key : {"forward_per_example", "train_per_step", "kaplan_6n_per_step"})
      EXPECT_TRUE(s["flops"].contains(key)) << key;
    for (const char* key : {"weights_fp32_bytes", "weights_bf16_bytes", "training_total_bytes"})
      EXPECT_TRUE(s["memory"].contains(key)) << key;
    EXPECT_EQ(s["lengths"]["batch"], 64);
  }
  EXPECT_EQ(j[0]["params"], 222903552);
  EXPECT_EQ(j[1]["feed_forward_proj"], "gated-gelu");
  EXPECT_EQ(j[1]["tie_word_embeddings"], false);
}

// README: the catalogue and `info tiny-el12` report the name's meaning (dl 4) and carry the note on
// the released config.json (which says dl 12); names without a quirk carry none.
TEST(Cli, InfoCarriesTheCatalogueNote) {
  const std::string note = "released config.json says num_layers 12 and num_decoder_layers 12; the name means el 12, dl 4";
  const CommandResult text = t5scale("info tiny-el12 tiny");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("note: t5-efficient-tiny-el12: " + note));
  EXPECT_EQ(lines(text.out), 5);   // lengths line, header, two rows, one note
  const CommandResult js = t5scale("info google/t5-efficient-tiny-el12 tiny --json");
  ASSERT_EQ(js.exit_code, 0) << js.err;
  const nlohmann::json j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["dl"], 4);
  EXPECT_THAT(j[0].value("note", ""), StartsWith(note));
  EXPECT_FALSE(j[1].contains("note"));
}

TEST(Cli, InfoErrors) {
  expect_one_line_error(t5scale("info huge-dl4"), "info", "unknown size 'huge'");
  expect_one_line_error(t5scale("info small-zz4"), "info", "unknown knob 'zz'");
  expect_one_line_error(t5scale("info small-dl0"), "info", "must be positive");
  expect_one_line_error(t5scale("info small-dl4-"), "info", "trailing '-'");
  expect_one_line_error(t5scale("info /nonexistent/config.json"), "info", "cannot open");
  expect_one_line_error(t5scale("info base --batch 0"), "info", "--batch must be positive");
  expect_one_line_error(t5scale("info base --bogus"), "info", "--bogus");
  expect_one_line_error(t5scale("info"), "info", "shape");
}

TEST(Cli, UsageAndUnknownCommand) {
  const CommandResult none = t5scale("");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("variants"));
  EXPECT_THAT(none.err, HasSubstr("paper"));
  const CommandResult bad = t5scale("frobnicate");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("unknown command 'frobnicate'"));
  const CommandResult help = t5scale("info --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--targets-length"));
  // Asked-for help is data (`t5scale --help | less`): on stdout like every subcommand's --help.
  for (const char* flag : {"--help", "-h", "help"}) {
    const CommandResult top = t5scale(flag);
    EXPECT_EQ(top.exit_code, 0) << flag;
    EXPECT_THAT(top.out, StartsWith("usage: t5scale <command>")) << flag;
    EXPECT_THAT(top.out, HasSubstr("  sweep      train every variant")) << flag;
    EXPECT_TRUE(top.err.empty()) << flag << ": " << top.err;
  }
}

// Defaults in --help read as written (boost prints a double's default with 17 digits otherwise:
// "0.14999999999999999").
TEST(Cli, HelpShowsDecimalDefaultsAsWritten) {
  const std::pair<const char*, const char*> cases[] = {{"spans", "--noise-density arg (=0.15)"},
                                                       {"batches", "--noise-density arg (=0.15)"},
                                                       {"train", "--decay-exponent arg (=0.8)"},
                                                       {"step", "--decay-exponent arg (=0.8)"},
                                                       {"data prepare", "--validation-fraction arg (=0.05)"}};
  for (const auto& [command, text] : cases) {
    const CommandResult r = t5scale(std::string(command) + " --help");
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, HasSubstr(text)) << command;
    EXPECT_THAT(r.out, ::testing::Not(::testing::ContainsRegex("=[0-9]+\\.[0-9]{6,}"))) << r.out;
  }
}

TEST(Cli, VariantsJson) {
  const CommandResult all = t5scale("variants --json");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const nlohmann::json j = nlohmann::json::parse(all.out);
  EXPECT_EQ(j.size(), 160u);
  for (const auto& v : j) {
    for (const char* key : {"name", "hf_id", "size", "sweep", "el", "dl", "dm", "ff", "kv", "nh", "params",
                            "params_breakdown", "flops", "memory"})
      EXPECT_TRUE(v.contains(key)) << key;
  }
  const CommandResult small = t5scale("variants --size small --knob dl --json");
  ASSERT_EQ(small.exit_code, 0) << small.err;
  const nlohmann::json s = nlohmann::json::parse(small.out);
  EXPECT_EQ(s.size(), 5u + 7u);  // dl sweep + el-dl sweep
  for (const auto& v : s) EXPECT_EQ(v["size"], "small");
}

TEST(Cli, VariantsTextAndErrors) {
  const CommandResult r = t5scale("variants --size tiny --knob el");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("t5-efficient-tiny-el12"));
  EXPECT_THAT(r.out, HasSubstr("note: t5-efficient-tiny-el12"));
  EXPECT_THAT(r.out, HasSubstr("4 of 160 catalogued checkpoints"));
  expect_one_line_error(t5scale("variants --size huge"), "variants", "unknown size 'huge'");
  expect_one_line_error(t5scale("variants --knob zz"), "variants", "unknown knob 'zz'");
  // An empty value names itself and the valid sizes instead of listing every variant.
  expect_one_line_error(t5scale("variants --size ''"), "variants",
                        "--size: unknown size '' (hint: sizes are tiny, mini, small, base, large, xl, xxl)");
  expect_one_line_error(t5scale("variants --knob ''"), "variants", "unknown knob ''");
}

TEST(Cli, PaperJsonAndText) {
  const CommandResult j = t5scale("paper --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const nlohmann::json t = nlohmann::json::parse(j.out);
  EXPECT_EQ(t["standard_sizes"].size(), 7u);
  EXPECT_EQ(t["deep_narrow"].size(), 5u);
  EXPECT_FALSE(t["released_variants"].empty());
  const CommandResult text = t5scale("paper");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("pytorch_model.bin bytes / 4e6"));  // the card caveat is in the table
  EXPECT_THAT(text.out, HasSubstr("222.93M"));
  EXPECT_THAT(text.out, HasSubstr("t5-efficient-xl-nl32 *"));
}

}  // namespace
