// Exact counts against numbers worked independently: SPEC.md §2 check values, a shape small enough to
// count every parameter and FLOP by hand (worked in the comments), t5-efficient-base's FLOPs at
// 512/114 term by term (SPEC.md §3: ≈ 142.0 GFLOP forward, 54.5 TFLOP per 128-example step), the
// Adafactor state against the parameter table, and the analytic count against the table.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/counts.h"
#include "core/names.h"
#include "core/optimizer.h"
#include "core/param_table.h"
#include "core/safetensors.h"

namespace t5 {
namespace {

TEST(Counts, SpecCheckValues) {
  EXPECT_EQ(count_params(parse_shape_name("t5-small")).total, 60506624);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-tiny")).total, 15570688);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-base")).total, 222903552);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-tiny-nl32")).total, 66986752);
  const int64_t small_dl4 = count_params(parse_shape_name("t5-efficient-small-dl4")).total;
  EXPECT_NEAR(double(small_dl4) / 1e6, 52.11, 0.005);
}

// The classic families of SPEC §1 worked by hand from SPEC §2 (gated-GELU: 3*dm*ff per block; untied:
// + V*dm for lm_head). These are also the parameter counts of the released Hugging Face checkpoints.
//   t5-base (12/12, dm 768, ff 3072, 12 heads of 64, tied, ReLU) = t5-efficient-base = 222,903,552 (SPEC).
//   t5-large (24/24, dm 1024, ff 4096, 16 heads of 64): 32128*1024 + 24*(4*1024^2 + 2*1024*4096 + 2048)
//     + 24*(8*1024^2 + 2*1024*4096 + 3072) + 2*32*16 + 2048 = 32,899,072 + 24*12,584,960 + 24*16,780,288
//     + 1,024 + 2,048 = 737,668,096.
//   t5-v1_1-small (8/8, dm 512, ff 1024, 6 heads of 64: inner 384): 2*32128*512 + 8*(4*512*384
//     + 3*512*1024 + 2*512) + 8*(8*512*384 + 3*512*1024 + 3*512) + 2*32*6 + 2*512 = 32,899,072
//     + 8*2,360,320 + 8*3,147,264 + 384 + 1,024 = 76,961,152.
//   t5-v1_1-base (12/12, dm 768, ff 2048, 12 heads of 64): 2*32128*768 + 12*(4*768^2 + 3*768*2048 + 2*768)
//     + 12*(8*768^2 + 3*768*2048 + 3*768) + 2*32*12 + 2*768 = 49,348,608 + 12*7,079,424 + 12*9,439,488
//     + 768 + 1,536 = 247,577,856.
TEST(Counts, ClassicFamiliesByHand) {
  EXPECT_EQ(count_params(parse_shape_name("t5-base")).total, 222903552);
  EXPECT_EQ(count_params(parse_shape_name("t5-large")).total, 737668096);
  const ParamBreakdown small = count_params(parse_shape_name("t5-v1_1-small"));
  EXPECT_EQ(small.total, 76961152);
  EXPECT_EQ(small.lm_head, 16449536);   // 32128*512
  EXPECT_EQ(count_params(parse_shape_name("t5-v1_1-base")).total, 247577856);
}

TEST(Counts, TableMatchesFormula) {
  for (const char* name : {"t5-small", "t5-v1_1-small", "tiny-el12-kv32", "small-dm128-nh2", "t5-v1_1-base",
                           "small-skv", "base-sh", "t5-v1_1-small-sh-skv", "tiny-el3-dl5-sh", "tiny-nh2-kv16-skv"}) {
    const Shape s = parse_shape_name(name);
    EXPECT_EQ(ParamTable(s).total(), count_params(s).total) << name;
  }
}

// The hand shape: el = dl = 1, dm 4, ff 8, kv 2, nh 2 (inner 4), V 10, 32 buckets.
Shape hand_shape(bool gated, bool tied) {
  Shape s;
  s.name = "hand";
  s.el = s.dl = 1;
  s.dm = 4;
  s.ff = 8;
  s.kv = 2;
  s.nh = 2;
  s.vocab_size = 10;
  s.feed_forward = gated ? FeedForward::gated_gelu : FeedForward::relu;
  s.tied = tied;
  return s;
}

TEST(Counts, HandShapeParams) {
  // ReLU, tied. Embedding 10*4 = 40.
  // Encoder block: q,k,v,o 4*(4*4) = 64; wi [8,4] + wo [4,8] = 64; two norms 2*4 = 8   -> 136.
  // Decoder block: self q,k,v,o 64 + cross q,k,v,o 64; wi + wo 64; three norms 12      -> 204.
  // Two bias tables 2*32*2 = 128; two final norms 8. Total 40 + 136 + 204 + 128 + 8 = 516.
  const ParamBreakdown p = count_params(hand_shape(false, true));
  EXPECT_EQ(p.embedding, 40);
  EXPECT_EQ(p.encoder, 136);
  EXPECT_EQ(p.decoder, 204);
  EXPECT_EQ(p.relative_bias, 128);
  EXPECT_EQ(p.final_norms, 8);
  EXPECT_EQ(p.lm_head, 0);
  EXPECT_EQ(p.norms, 8 + 12 + 8);
  EXPECT_EQ(p.total, 516);
  EXPECT_EQ(p.non_embedding, 516 - 40 - 128);
  // Gated, untied: each block gains one more [8,4] matrix (+32): encoder 168, decoder 236;
  // lm_head [10,4] = 40. Total 40 + 168 + 236 + 40 + 128 + 8 = 620.
  const ParamBreakdown g = count_params(hand_shape(true, false));
  EXPECT_EQ(g.encoder, 168);
  EXPECT_EQ(g.decoder, 236);
  EXPECT_EQ(g.lm_head, 40);
  EXPECT_EQ(g.total, 620);
  EXPECT_EQ(g.non_embedding, 620 - 40 - 40 - 128);
  EXPECT_EQ(ParamTable(hand_shape(false, true)).total(), 516);
  EXPECT_EQ(ParamTable(hand_shape(true, false)).total(), 620);
}

TEST(Counts, HandShapeFlops) {
  // Le = 3, Ld = 2, batch 5; ReLU (f = 2).
  // Encoder: projections 2*3*4*4*4 = 384; scores + weighted sum 4*3*3*4 = 144 -> attention 528;
  //          FF 2*3*2*4*8 = 384.
  // Decoder self: projections 2*2*4*4*4 = 256; scores 4*2*2*4 = 64 -> 320.
  // Cross: q,o on decoder 2*2*2*4*4 = 128; k,v on encoder 2*3*2*4*4 = 192; scores 4*2*3*4 = 96 -> 416.
  // Decoder FF 2*2*2*4*8 = 256. lm head 2*2*4*10 = 160.
  // Forward 528 + 384 + 320 + 416 + 256 + 160 = 2064; train 3*2064*5 = 30960;
  // Kaplan 6 * N_nonemb (348) * 5 * (3 + 2) = 52200.
  const FlopBreakdown f = count_flops(hand_shape(false, true), {3, 2, 5});
  EXPECT_EQ(f.encoder_attention, 528);
  EXPECT_EQ(f.encoder_feed_forward, 384);
  EXPECT_EQ(f.decoder_self_attention, 320);
  EXPECT_EQ(f.decoder_cross_attention, 416);
  EXPECT_EQ(f.decoder_feed_forward, 256);
  EXPECT_EQ(f.lm_head, 160);
  EXPECT_EQ(f.forward_per_example, 2064);
  EXPECT_EQ(f.train_per_step, 30960);
  EXPECT_EQ(f.kaplan_6n_per_step, 52200);
  // Gated (f = 3): encoder FF 2*3*3*4*8 = 576, decoder FF 2*2*3*4*8 = 384; forward 2064 + 192 + 128.
  const FlopBreakdown g = count_flops(hand_shape(true, true), {3, 2, 5});
  EXPECT_EQ(g.encoder_feed_forward, 576);
  EXPECT_EQ(g.decoder_feed_forward, 384);
  EXPECT_EQ(g.forward_per_example, 2384);
}

// The sharing flags on a hand shape deep enough to share: el 2, dl 3, dm 4, ff 8, kv 2, nh 2 (inner 4),
// V 10, ReLU, tied, 32 buckets. Worked by hand from SPEC §2:
//   plain:  embedding 40; encoder block q,k,v,o 4*16 + wi,wo 64 + norms 8 = 136, x2 = 272;
//           decoder block self 64 + cross 64 + FF 64 + norms 12 = 204, x3 = 612; bias tables 128,
//           final norms 8. Total 1060.
//   skv:    every attention loses v (16): encoder block 120, x2 = 240; decoder block 172, x3 = 516;
//           total 40 + 240 + 516 + 136 = 932 (= 1060 - 16*(2 + 2*3)).
//   sh:     one q,k,v,o per stack and kind: encoder 64 + 2*(64 + 8) = 208; decoder 64 + 64 + 3*(64 + 12)
//           = 356; total 40 + 208 + 356 + 136 = 740.
//   sh+skv: encoder 48 + 144 = 192; decoder 96 + 228 = 324; total 40 + 192 + 324 + 136 = 692.
TEST(Counts, SharingFlagsHandParams) {
  Shape s = hand_shape(false, true);
  s.el = 2;
  s.dl = 3;
  struct Case { bool skv, sh; int64_t encoder, decoder, total; };
  for (const Case c : {Case{false, false, 272, 612, 1060}, Case{true, false, 240, 516, 932},
                       Case{false, true, 208, 356, 740}, Case{true, true, 192, 324, 692}}) {
    s.shared_kv = c.skv;
    s.shared_heads = c.sh;
    const ParamBreakdown p = count_params(s);
    EXPECT_EQ(p.encoder, c.encoder) << c.skv << c.sh;
    EXPECT_EQ(p.decoder, c.decoder) << c.skv << c.sh;
    EXPECT_EQ(p.total, c.total) << c.skv << c.sh;
    EXPECT_EQ(p.non_embedding, c.total - 40 - 128) << c.skv << c.sh;
    EXPECT_EQ(ParamTable(s).total(), c.total) << c.skv << c.sh;
  }
  // Released-size figures: t5-efficient-small (60,506,624) with skv drops dm*inner = 512*512 = 262,144
  // in each of its 6 + 2*6 = 18 attentions: 60,506,624 - 4,718,592 = 55,788,032. base (222,903,552)
  // with sh keeps 3 of its 12 + 2*12 = 36 sets of 4*768*768 = 2,359,296: minus 33*2,359,296 =
  // 77,856,768 gives 145,046,784.
  EXPECT_EQ(count_params(parse_shape_name("small-skv")).total, 55788032);
  EXPECT_EQ(count_params(parse_shape_name("base-sh")).total, 145046784);
}

// skv computes the key/value projection once per attention (Mesh TF compute_kv). Hand shape (el = dl =
// 1, dm 4, inner 4, ff 8, V 10), Le 3, Ld 2, batch 5:
//   encoder attention: projections q, kv, o 2*3*3*4*4 = 288 + scores and sum 144 = 432 (plain 528);
//   decoder self: 2*2*3*4*4 = 192 + 64 = 256 (plain 320);
//   cross: q,o on decoder 128 + kv on encoder 2*3*1*4*4 = 96 + scores 96 = 320 (plain 416);
//   FF 384 + 256, lm head 160: forward 432 + 384 + 256 + 320 + 256 + 160 = 1808; train 3*1808*5 = 27120;
//   Kaplan: N_nonemb = encoder 120 + decoder 172 + final norms 8 = 300, 6*300*5*(3 + 2) = 45000.
// sh changes no FLOP: every layer still applies its (shared) projections.
TEST(Counts, SharingFlagsHandFlops) {
  Shape s = hand_shape(false, true);
  s.shared_kv = true;
  const FlopBreakdown f = count_flops(s, {3, 2, 5});
  EXPECT_EQ(f.encoder_attention, 432);
  EXPECT_EQ(f.decoder_self_attention, 256);
  EXPECT_EQ(f.decoder_cross_attention, 320);
  EXPECT_EQ(f.encoder_feed_forward, 384);
  EXPECT_EQ(f.forward_per_example, 1808);
  EXPECT_EQ(f.train_per_step, 27120);
  EXPECT_EQ(f.kaplan_6n_per_step, 45000);
  for (const bool skv : {false, true}) {
    Shape plain = parse_shape_name("small-el3-dl5");
    plain.shared_kv = skv;
    Shape sh = plain;
    sh.shared_heads = true;
    const FlopBreakdown a = count_flops(plain, {}), b = count_flops(sh, {});
    EXPECT_EQ(a.forward_per_example, b.forward_per_example);
    EXPECT_EQ(a.encoder_attention, b.encoder_attention);
    EXPECT_EQ(a.decoder_cross_attention, b.decoder_cross_attention);
  }
  // Activations with skv keep one key/value tensor: hand shape per example
  //   encoder layer 3*(16 + 3*4 + 6 + 8) = 126; decoder layer 2*(24 + 5*4 + 10 + 8) + 3*1*4 = 136;
  //   embeddings and final norms 60, probabilities 20 -> 342 floats, *4 bytes *5 examples = 6840.
  EXPECT_EQ(estimate_memory(s, {3, 2, 5}).activations_bytes, 6840);
}

TEST(Counts, BaseFlopsAt512By114) {
  // t5-efficient-base: dm = inner = 768, ff 3072, V 32128, el = dl = 12, Le 512, Ld 114.
  // Encoder layer: 2*512*4*768*768 = 2,415,919,104; 4*512*512*768 = 805,306,368;
  //                FF 2*512*2*768*3072 = 4,831,838,208.
  // Decoder layer: self 2*114*4*768^2 = 537,919,488 + 4*114^2*768 = 39,923,712;
  //                cross 2*114*2*768^2 = 268,959,744 + 2*512*2*768^2 = 1,207,959,552 + 4*114*512*768 = 179,306,496;
  //                FF 2*114*2*768*3072 = 1,075,838,976.
  // lm head 2*114*768*32128 = 5,625,741,312.
  // Forward = 12*(3,221,225,472 + 4,831,838,208 + 577,843,200 + 1,656,225,792 + 1,075,838,976) + 5,625,741,312
  //         = 141,981,401,088 ≈ 142.0 GFLOP; x 3 x 128 = 54,520,858,017,792 ≈ 54.5 TFLOP.
  const FlopBreakdown f = count_flops(parse_shape_name("t5-efficient-base"), {512, 114, 128});
  EXPECT_EQ(f.encoder_attention, 12.0 * 3221225472.0);
  EXPECT_EQ(f.encoder_feed_forward, 12.0 * 4831838208.0);
  EXPECT_EQ(f.decoder_self_attention, 12.0 * 577843200.0);
  EXPECT_EQ(f.decoder_cross_attention, 12.0 * 1656225792.0);
  EXPECT_EQ(f.decoder_feed_forward, 12.0 * 1075838976.0);
  EXPECT_EQ(f.lm_head, 5625741312.0);
  EXPECT_EQ(f.forward_per_example, 141981401088.0);
  EXPECT_EQ(f.train_per_step, 54520858017792.0);
  EXPECT_NEAR(f.forward_per_example / 1e9, 142.0, 0.05);   // SPEC.md §3
  EXPECT_NEAR(f.train_per_step / 1e12, 54.5, 0.05);
  // Kaplan's 6N (non-embedding N = 222,903,552 - 24,674,304 - 768 = 198,228,480) overstates it ~1.75x.
  EXPECT_EQ(f.kaplan_6n_per_step, 6.0 * 198228480.0 * 128 * 626);
  EXPECT_NEAR(f.kaplan_6n_per_step / f.train_per_step, 1.75, 0.01);
}

TEST(Counts, AdafactorStateFloats) {
  // SPEC.md §7: factored when the tensor has >= 2 dims and its second-largest dim >= 128.
  EXPECT_EQ(adafactor_state_floats(1024, 512), 1024 + 512);
  EXPECT_EQ(adafactor_state_floats(128, 4096), 128 + 4096);
  EXPECT_EQ(adafactor_state_floats(127, 4096), 127 * 4096);  // second-largest dim 127 < 128
  EXPECT_EQ(adafactor_state_floats(32, 8), 32 * 8);          // relative-bias table
  EXPECT_EQ(adafactor_state_floats(768, 1), 768);            // a norm weight (vector)
}

// The Adafactor state summed over the parameter table (an enumeration independent of counts.cpp).
int64_t adafactor_floats_from_table(const Shape& s) {
  int64_t floats = 0;
  const ParamTable table(s);
  for (const auto& p : table.params())
    floats += p.shape.size() == 1 ? p.shape[0] : adafactor_state_floats(p.shape[0], p.shape[1]);
  return floats;
}

TEST(Counts, MemoryEstimate) {
  for (const char* name : {"t5-efficient-tiny", "t5-efficient-base", "t5-v1_1-small", "small-kv16-nh2", "small-skv",
                           "base-sh", "t5-v1_1-small-sh-skv"}) {
    const Shape s = parse_shape_name(name);
    const int64_t N = count_params(s).total;
    const MemoryEstimate m = estimate_memory(s, {512, 114, 128});
    EXPECT_EQ(m.weights_fp32_bytes, 4 * N) << name;
    EXPECT_EQ(m.weights_bf16_bytes, 2 * N) << name;
    EXPECT_EQ(m.gradients_bytes, 4 * N) << name;
    EXPECT_EQ(m.optimizer_bytes, 4 * adafactor_floats_from_table(s)) << name;
    EXPECT_EQ(estimate_memory(s, {512, 114, 128}, OptimizerKind::adamw).optimizer_bytes, 8 * N) << name;
    EXPECT_EQ(m.training_total_bytes, m.weights_fp32_bytes + m.gradients_bytes + m.optimizer_bytes + m.activations_bytes);
  }
  // Activations of the hand shape (README "Memory"), Le 3, Ld 2, batch 5, floats per example:
  //   encoder layer Le*(4dm + 4inner + nh*Le + ff) = 3*(16 + 16 + 6 + 8) = 138
  //   decoder layer Ld*(6dm + 6inner + nh*(Ld+Le) + ff) + Le*2*inner = 2*(24 + 24 + 10 + 8) + 24 = 156
  //   embeddings and final norms (Le+Ld)*3dm = 60, probabilities Ld*V = 20
  //   -> 374 floats, 4 bytes, 5 examples = 7480 bytes.
  EXPECT_EQ(estimate_memory(hand_shape(false, true), {3, 2, 5}).activations_bytes, 7480);
  // Gated keeps three ff-wide tensors per FF: +2*8 floats per token: 374 + 2*8*(3 + 2) = 454.
  EXPECT_EQ(estimate_memory(hand_shape(true, true), {3, 2, 5}).activations_bytes, 4 * 5 * 454);
}

// The estimate against what the optimizers really allocate (their state tensors, less the step
// counter): Adafactor for t5-efficient-tiny is 83,328 floats by hand (see MemoryEstimate's table sum and
// tests/cli_numbers_test.cpp: shared 32,128 + 256, per encoder block 5,120, per decoder block 7,424,
// unfactored bias tables 2 x 128, final norms 512); AdamW keeps m and v, 2N floats.
int64_t state_floats(const OptimizerConfig& config, const ParamTable& table) {
  int64_t floats = 0;
  for (const Tensor& t : make_optimizer(config, table)->state())
    if (t.name != "step") floats += int64_t(t.data.size());
  return floats;
}

TEST(Counts, MemoryEstimateIsWhatTheOptimizersAllocate) {
  const Shape tiny = parse_shape_name("t5-efficient-tiny");
  EXPECT_EQ(state_floats(OptimizerConfig{}, ParamTable(tiny)), 83328);
  EXPECT_EQ(estimate_memory(tiny, {}).optimizer_bytes, 4 * 83328);
  const Shape small = parse_shape_name("tiny-dm32-ff64-nh2-kv16-nl1");   // 1,048,928 parameters
  OptimizerConfig adamw;
  adamw.name = "adamw";
  EXPECT_EQ(state_floats(adamw, ParamTable(small)), 2 * 1048928);
  EXPECT_EQ(estimate_memory(small, {}, OptimizerKind::adamw).optimizer_bytes, 8 * 1048928);
}

TEST(Counts, JsonFields) {
  const Shape s = parse_shape_name("tiny");
  const nlohmann::json p = to_json(count_params(s));
  for (const char* key : {"embedding", "encoder", "decoder", "lm_head", "norms", "relative_bias", "final_norms",
                          "total", "non_embedding"})
    EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_EQ(p["total"], 15570688);
  const nlohmann::json f = to_json(count_flops(s, {}));
  EXPECT_EQ(f["train_per_step"].get<double>(), 3 * 128 * f["forward_per_example"].get<double>());
}

}  // namespace
}  // namespace t5
