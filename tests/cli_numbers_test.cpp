// Numbers the commands print, against values worked by hand from SPEC.md (§1 size table, §2 parameter
// formula, §3 FLOP formula) with the arithmetic in the comments, never against core/counts.h: `info`
// (every column of a tiny row and every JSON field), `paper` (the standard sizes and a DeepNarrow row
// with its ratios), `sweep --dry-run` under a FLOPs budget (steps bought, FLOPs, time estimate) and
// `init`'s parameter and tensor counts.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/gemm.h"
#include "core/progress.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;
using testing::CommandResult;
using testing::t5scale;

// The whitespace-separated words of the first line of `text` that starts with `prefix` (after leading
// spaces); empty if there is none.
std::vector<std::string> row_words(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line.compare(start, prefix.size(), prefix) != 0) continue;
    std::istringstream words(line);
    std::vector<std::string> out;
    for (std::string w; words >> w;) out.push_back(w);
    return out;
  }
  return {};
}

// t5-efficient-tiny (SPEC §1: el = dl = 4, dm 256, ff 1024, nh 4, kv 64, inner 256, V 32128) at the
// default lengths 512 / 114, batch 128.
//   Parameters (SPEC §2): embedding 32128*256 = 8,224,768; encoder 4*(4*256*256 + 2*256*1024 + 2*256)
//   = 4*786,944 = 3,147,776; decoder 4*(8*256*256 + 2*256*1024 + 3*256) = 4*1,049,344 = 4,197,376;
//   bias tables 2*32*4 = 256; final norms 2*256 = 512. Total 15,570,688 (SPEC's check value);
//   norms 4*2*256 + 4*3*256 + 512 = 5,632; non-embedding 15,570,688 - 8,224,768 - 256 = 7,345,664.
//   FLOPs per example (SPEC §3), 4 layers each:
//     encoder attention 4*(2*512*4*256*256 + 4*512*512*256) = 4*(268,435,456 + 268,435,456) = 2,147,483,648
//     encoder FF        4*(2*512*2*256*1024) = 4*536,870,912 = 2,147,483,648
//     decoder self      4*(2*114*4*256*256 + 4*114*114*256) = 4*(59,768,832 + 13,307,904) = 292,306,944
//     decoder cross     4*(2*114*2*256*256 + 2*512*2*256*256 + 4*114*512*256)
//                       = 4*(29,884,416 + 134,217,728 + 59,768,832) = 895,483,904
//     decoder FF        4*(2*114*2*256*1024) = 4*119,537,664 = 478,150,656
//     lm head           2*114*256*32128 = 1,875,247,104
//     forward = 7,836,155,904 (7.84G); train step 3*128*forward = 3,009,083,867,136 (3.01T);
//     Kaplan 6*7,345,664*128*(512+114) = 3,531,560,189,952 (3.53T).
//   Memory: fp32 weights 4*15,570,688 = 62,282,752 B (62.3 MB), bf16 31,141,376, gradients 62,282,752.
//     Adafactor state (SPEC §7, factored when the second-largest dim >= 128): shared [32128,256]
//     32128+256 = 32,384; per encoder block 4 [256,256] -> 4*512, wi/wo [1024,256] -> 2*1280, two norms
//     512: 5,120 (x4 = 20,480); per decoder block 8*512 + 2*1280 + 768 = 7,424 (x4 = 29,696); bias
//     tables [32,4] unfactored 2*128 = 256; final norms 512. 83,328 floats = 333,312 B.
//     Activations per example (counts.cpp's kept tensors): encoder layer Le*(4dm + 4inner + nh*Le + ff)
//     = 512*(1024 + 1024 + 2048 + 1024) = 2,621,440; decoder layer Ld*(6dm + 6inner + nh*(Ld+Le) + ff)
//     + Le*2*inner = 114*(1536 + 1536 + 2504 + 1024) + 262,144 = 1,014,544; embeddings and final norms
//     (Le+Ld)*3dm = 480,768; probabilities Ld*V = 3,662,592. 4*2,621,440 + 4*1,014,544 + 480,768
//     + 3,662,592 = 18,687,296 floats, x4 B x128 = 9,567,895,552 B.
//     Training total 62,282,752 + 62,282,752 + 333,312 + 9,567,895,552 = 9,692,794,368 B (9.7 GB).
TEST(PrintedNumbers, InfoTinyEveryColumnByHand) {
  const CommandResult text = t5scale("info tiny");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(row_words(text.out, "tiny "),
            (std::vector<std::string>{"tiny", "4", "4", "256", "1024", "64", "4", "relu", "15,570,688", "7.84G",
                                      "3.01T", "3.53T", "62.3", "MB", "9.7", "GB"}))
      << text.out;
  const CommandResult json = t5scale("info tiny --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out).at(0);
  EXPECT_EQ(j["params"], 15570688);
  EXPECT_EQ(j["params_breakdown"], nlohmann::json({{"embedding", 8224768}, {"encoder", 3147776}, {"decoder", 4197376},
                                                   {"relative_bias", 256}, {"final_norms", 512}, {"lm_head", 0},
                                                   {"norms", 5632}, {"total", 15570688}, {"non_embedding", 7345664}}));
  EXPECT_EQ(j["flops"], nlohmann::json({{"encoder_attention", 2147483648.0}, {"encoder_feed_forward", 2147483648.0},
                                        {"decoder_self_attention", 292306944.0}, {"decoder_cross_attention", 895483904.0},
                                        {"decoder_feed_forward", 478150656.0}, {"lm_head", 1875247104.0},
                                        {"forward_per_example", 7836155904.0}, {"train_per_step", 3009083867136.0},
                                        {"kaplan_6n_per_step", 3531560189952.0}}));
  EXPECT_EQ(j["memory"], nlohmann::json({{"weights_fp32_bytes", 62282752}, {"weights_bf16_bytes", 31141376},
                                         {"gradients_bytes", 62282752}, {"optimizer_bytes", 333312},
                                         {"activations_bytes", 9567895552}, {"training_total_bytes", 9692794368}}));
}

// `paper`: the exact parameters and forward FLOPs (512 / 114) of every standard size of SPEC §1, and
// DeepNarrow's first comparison (small-nl16 against base) with its printed ratios.
//   Per size, N = 32128*dm + el*(4*dm*inner + 2*dm*ff + 2*dm) + dl*(8*dm*inner + 2*dm*ff + 3*dm)
//                 + 2*32*nh + 2*dm (SPEC §2):
//   mini  (4/4, dm 384, ff 1536, inner 512): 12,337,152 + 4*1,966,848 + 4*2,753,664 + 512 + 768 = 31,220,480
//   small (6/6, dm 512, ff 2048, inner 512): 16,449,536 + 6*3,146,752 + 6*4,195,840 + 512 + 1024 = 60,506,624
//   large (24/24, dm 1024, ff 4096, inner 1024): 32,899,072 + 24*12,584,960 + 24*16,780,288 + 1024 + 2048
//         = 737,668,096
//   xl    (24/24, dm 1024, ff 16384, inner 4096): 32,899,072 + 24*50,333,696 + 24*67,111,936 + 2048 + 2048
//         = 2,851,598,336
//   xxl   (24/24, dm 1024, ff 65536, inner 16384): 32,899,072 + 24*201,328,640 + 24*268,438,528 + 8192 + 2048
//         = 11,307,321,344
//   small-nl16: 16,449,536 + 16*3,146,752 + 16*4,195,840 + 512 + 1024 = 133,932,544 (133.93M).
//   Forward of small-nl16 (dm = inner = 512, ff 2048, Le 512, Ld 114):
//     encoder layer 2*512*4*512^2 + 4*512^2*512 + 2*512*2*512*2048 = 1,073,741,824 + 536,870,912
//                   + 2,147,483,648 = 3,758,096,384; x16 = 60,129,542,144
//     decoder layer 2*114*4*512^2 + 4*114^2*512 + 2*114*2*512^2 + 2*512*2*512^2 + 4*114*512*512
//                   + 2*114*2*512*2048 = 239,075,328 + 26,615,808 + 119,537,664 + 536,870,912
//                   + 119,537,664 + 478,150,656 = 1,519,788,032; x16 = 24,316,608,512
//     lm head 2*114*512*32128 = 3,750,494,208; forward 88,196,644,864 (88.20G).
//   Base (SPEC §3): 141,981,401,088 (141.98G), 222,903,552 (222.90M).
//   Ratios 133,932,544 / 222,903,552 = 0.60085; 88,196,644,864 / 141,981,401,088 = 0.62118.
TEST(PrintedNumbers, PaperStandardSizesAndDeepNarrowByHand) {
  const CommandResult json = t5scale("paper --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json t = nlohmann::json::parse(json.out);
  const std::pair<const char*, int64_t> sizes[] = {{"tiny", 15570688},      {"mini", 31220480},
                                                   {"small", 60506624},     {"base", 222903552},
                                                   {"large", 737668096},    {"xl", 2851598336},
                                                   {"xxl", 11307321344}};
  ASSERT_EQ(t["standard_sizes"].size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(t["standard_sizes"][i]["size"], sizes[i].first);
    EXPECT_EQ(t["standard_sizes"][i]["params"], sizes[i].second) << sizes[i].first;
  }
  EXPECT_EQ(t["standard_sizes"][0]["forward_per_example"].get<double>(), 7836155904.0);    // InfoTiny above
  EXPECT_EQ(t["standard_sizes"][3]["forward_per_example"].get<double>(), 141981401088.0);  // SPEC §3
  const nlohmann::json& row = t["deep_narrow"][0];
  EXPECT_EQ(row["deep"]["params"], 133932544);
  EXPECT_EQ(row["deep"]["forward_per_example"].get<double>(), 88196644864.0);
  EXPECT_NEAR(row["params_ratio"].get<double>(), 0.60085, 5e-6);
  EXPECT_NEAR(row["flops_ratio"].get<double>(), 0.62118, 5e-6);

  const CommandResult text = t5scale("paper");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(row_words(text.out, "t5-efficient-small-nl16 "),
            (std::vector<std::string>{"t5-efficient-small-nl16", "133.93M", "88.20G", "t5-efficient-base", "222.90M",
                                      "141.98G", "0.601", "0.621"}))
      << text.out;
  EXPECT_EQ(row_words(text.out, "xl "),
            (std::vector<std::string>{"xl", "24/24", "1024", "16384", "128", "32", "2,851,598,336", "2851.60M", "-",
                                      "3B", "1.90T"}))
      << text.out;
}

// `sweep --dry-run` under a FLOPs budget of 1e11 at a rate of 1 GFLOP/s (--assume-gflops 1).
//   tiny-dm128-ff512-kv32 (dm = inner = 128, ff 512, nh 4, kv 32) at 64 / 14, batch 16:
//   nl1 parameters: 32128*128 + (4*128^2 + 2*128*512 + 256) + (8*128^2 + 2*128*512 + 384) + 2*32*4 + 256
//                 = 4,112,384 + 196,864 + 262,528 + 256 + 256 = 4,572,288; nl2 adds 196,864 + 262,528: 5,031,680.
//   Forward per example: encoder layer 2*64*4*128^2 + 4*64^2*128 + 2*64*2*128*512 = 8,388,608 + 2,097,152
//   + 16,777,216 = 27,262,976; decoder layer 2*14*4*128^2 + 4*14^2*128 + 2*14*2*128^2 + 2*64*2*128^2
//   + 4*14*64*128 + 2*14*2*128*512 = 1,835,008 + 100,352 + 917,504 + 4,194,304 + 458,752 + 3,670,016
//   = 11,175,936; lm head 2*14*128*32128 = 115,146,752.
//   nl1: 153,585,664 per example, x3 x16 = 7,372,111,872 per step (7.37G); 1e11 buys 13 steps
//        (14 would be 103.2G): 95,837,454,336 FLOPs (95.84G), 95.84 s at 1 GFLOP/s -> 1m36s.
//   nl2: 192,024,576 per example, x48 = 9,217,179,648 per step (9.22G); 10 steps (11 would be 101.4G):
//        92,171,796,480 FLOPs (92.17G) -> 92.17 s -> 1m32s.
//   Total 188,009,250,816 (188.01G) -> 188.0 s -> 3m08s.
TEST(PrintedNumbers, DryRunFlopsBudgetByHand) {
  const testing::ScratchDir scratch("t5scale_cli_numbers_dry");
  const std::string spec = scratch.write("budget.json", R"({"name": "b", "base": "tiny-dm128-ff512-kv32",
      "grid": {"nl": [1, 2]}, "budget": {"flops": 1e11}, "batch": 16, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 1", spec));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("sweep b: 2 variants (0 skipped); budget 100.00G flops; batch 16, inputs 64, targets 14\n"));
  EXPECT_THAT(r.out, HasSubstr("time estimate at 1.0 GFLOP/s (--assume-gflops)\n"));
  EXPECT_EQ(row_words(r.out, "tiny-dm128-ff512-kv32-nl1-s0"),
            (std::vector<std::string>{"tiny-dm128-ff512-kv32-nl1-s0", "1", "1", "128", "512", "32", "4", "relu",
                                      "4,572,288", "7.37G", "13", "95.84G", "1m36s"}))
      << r.out;
  EXPECT_EQ(row_words(r.out, "tiny-dm128-ff512-kv32-nl2-s0"),
            (std::vector<std::string>{"tiny-dm128-ff512-kv32-nl2-s0", "2", "2", "128", "512", "32", "4", "relu",
                                      "5,031,680", "9.22G", "10", "92.17G", "1m32s"}))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("total: 188.01G training FLOPs, estimated 3m08s\n"));
}

// Without --assume-gflops the dry run measures the GEMM ceiling at the spec's precision and assumes 30%
// of it (cmd_sweep.cpp's kAssumedMfu): the printed rate is 0.3 x the printed ceiling, and the estimate is the variant's FLOPs over
// that rate: nl1 above, 1000 steps of 7,372,111,872 = 7,372,111,872,000 FLOPs (7.37T).
TEST(PrintedNumbers, DryRunEstimateAtThirtyPercentOfTheMeasuredCeiling) {
  const testing::ScratchDir scratch("t5scale_cli_numbers_ceiling");
  const std::string spec = scratch.write("ceiling.json", R"({"name": "c", "shapes": ["tiny-dm128-ff512-kv32-nl1"],
      "budget": {"steps": 1000}, "batch": 16, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run", spec));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(" fp32 GEMM ceiling of ")) << r.out;   // the spec's precision (default fp32)
  const std::vector<double> rate = testing::numbers_after(r.out, "time estimate at ");   // rate, 30, ceiling
  ASSERT_EQ(rate.size(), 3u) << r.out;
  EXPECT_EQ(rate[1], 30);
  EXPECT_TRUE(testing::within_rounding(rate[0], 0.05, 0.3 * rate[2], 0.3 * 0.05, 1, 0)) << r.out;
  const std::vector<std::string> row = row_words(r.out, "tiny-dm128-ff512-kv32-nl1-s0");
  ASSERT_EQ(row.size(), 13u) << r.out;
  EXPECT_EQ(row[10], "1000");
  EXPECT_EQ(row[11], "7.37T");
  // The estimate in whole seconds for the printed rate +- its rounding (format_duration is tested by hand
  // in progress_test).
  const double slow = 7372.111872 / (rate[0] + 0.05), fast = 7372.111872 / std::max(rate[0] - 0.05, 1e-3);
  std::set<std::string> allowed;
  for (int64_t s = std::llround(slow); s <= std::llround(fast); ++s) allowed.insert(format_duration(double(s)));
  EXPECT_TRUE(allowed.count(row[12])) << row[12] << " for " << slow << "-" << fast << " s\n" << r.out;
  // A bf16 sweep trains with bf16 products: its estimate is 30% of the bf16 ceiling, as its records' MFU.
  const std::string bf16 = scratch.write("bf16.json", R"({"name": "c", "shapes": ["tiny-dm128-ff512-kv32-nl1"],
      "budget": {"steps": 1000}, "batch": 16, "inputs_length": 64, "targets_length": 14, "precision": "bf16",
      "data": {"source": "synthetic"}})");
  const CommandResult b = t5scale(fmt::format("sweep {} --dry-run", bf16));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  // "bf16 (emulated)" on a CPU without a bf16 matmul (core/gemm.h): the ceiling is then an f32 rate.
  EXPECT_THAT(b.out, HasSubstr(fmt::format(" {} GEMM ceiling of ", precision_label(GemmPrecision::bf16)))) << b.out;
  const CommandResult e = [&] {
    const testing::ScopedEnv forced({{"T5SCALE_BF16_EMULATE", "1"}});
    return t5scale(fmt::format("sweep {} --dry-run", bf16));
  }();
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_THAT(e.out, HasSubstr(" bf16 (emulated) GEMM ceiling of ")) << e.out;
}

// `init`'s line: parameters and tensors of a small config.json, by hand. el = dl = 2, dm 16, ff 24, nh 3
// of kv 4 (inner 12), V 40, tied ReLU:
//   parameters 40*16 + 2*(4*16*12 + 2*16*24 + 2*16) + 2*(8*16*12 + 2*16*24 + 3*16) + 2*32*3 + 2*16
//            = 640 + 2*1,568 + 2*2,352 + 192 + 32 = 8,704;
//   tensors (SPEC §5): shared 1; per encoder block q, k, v, o, two norms, wi, wo = 8 (x2); per decoder
//   block 4 self + 4 cross + three norms + wi + wo = 13 (x2); two bias tables; two final norms:
//   1 + 16 + 26 + 2 + 2 = 47.
TEST(PrintedNumbers, InitParametersAndTensorsByHand) {
  const testing::ScratchDir scratch("t5scale_cli_numbers_init");
  const std::string config = scratch.write("small.json", R"({"el": 2, "dl": 2, "dm": 16, "ff": 24, "kv": 4, "nh": 3,
      "vocab_size": 40})");
  const CommandResult r = t5scale(fmt::format("init --model {} --seed 3 --out {}", config, scratch.path("w")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::EndsWith("\t8704 parameters\t47 tensors\tseed 3\n")) << r.out;
}

}  // namespace
}  // namespace t5
