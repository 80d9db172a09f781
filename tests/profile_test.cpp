// core/profile: each component's matmul FLOPs per step against a shape worked by hand (in the
// comments), the components' sum against SPEC.md §3's training-step formula written out here for
// several shapes (ReLU and gated, el ≠ dl, inner ≠ dm, untied), and the lap clock charging the
// component it names only while a ProfileScope is installed.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/names.h"
#include "core/profile.h"

namespace t5 {
namespace {

double step_flops(const Shape& s, const Lengths& len, StepComponent c) {
  return component_flops_per_step(c, count_flops(s, len), len.batch);
}

TEST(Profile, HandShapeComponentFlops) {
  // el 2, dl 1, dm 4, ff 8, kv 2, nh 2 (inner 4), V 10, gated (f = 3); Le 3, Ld 2, batch 5.
  // A step is forward + backward = 3 x forward, times 5 examples = 15 x forward per example.
  Shape s;
  s.el = 2, s.dl = 1, s.dm = 4, s.ff = 8, s.kv = 2, s.nh = 2, s.vocab_size = 10;
  s.feed_forward = FeedForward::gated_gelu;
  const Lengths len{.inputs = 3, .targets = 2, .batch = 5};
  // Encoder self-attention per layer: q,k,v,o 2*3*4*4*4 = 384; scores + weighted sum 4*3*3*4 = 144;
  // 528 x 2 layers = 1056; x 15 = 15840.
  EXPECT_EQ(step_flops(s, len, StepComponent::encoder_self_attention), 15840);
  // Encoder FF per layer: 2*3*3*4*8 = 576; x 2 layers = 1152; x 15 = 17280.
  EXPECT_EQ(step_flops(s, len, StepComponent::encoder_feed_forward), 17280);
  // Decoder self-attention: 2*2*4*4*4 = 256 + 4*2*2*4 = 64 -> 320; x 15 = 4800.
  EXPECT_EQ(step_flops(s, len, StepComponent::decoder_self_attention), 4800);
  // Cross-attention: q,o 2*2*2*4*4 = 128; k,v over encoder tokens 2*3*2*4*4 = 192; 4*2*3*4 = 96 -> 416; x 15 = 6240.
  EXPECT_EQ(step_flops(s, len, StepComponent::decoder_cross_attention), 6240);
  // Decoder FF: 2*2*3*4*8 = 384; x 15 = 5760.
  EXPECT_EQ(step_flops(s, len, StepComponent::decoder_feed_forward), 5760);
  // Output head: 2*2*4*10 = 160; x 15 = 2400.
  EXPECT_EQ(step_flops(s, len, StepComponent::output_head), 2400);
  // No matmul work in embeddings, bias tables and norms.
  for (StepComponent c : {StepComponent::encoder_embedding, StepComponent::encoder_final_norm, StepComponent::decoder_embedding,
                      StepComponent::decoder_final_norm})
    EXPECT_EQ(step_flops(s, len, c), 0) << to_string(c);
  // 15840 + 17280 + 4800 + 6240 + 5760 + 2400 = 52320.
  double sum = 0;
  for (int i = 0; i < kNumComponents; ++i) sum += step_flops(s, len, StepComponent(i));
  EXPECT_EQ(sum, 52320);
}

// SPEC.md §3 as written there, per step: 3 x batch x (el·encoder layer + dl·decoder layer + lm head).
double spec_train_flops(const Shape& s, const Lengths& len) {
  const double dm = double(s.dm), ff = double(s.ff), inner = double(s.nh * s.kv), V = double(s.vocab_size);
  const double Le = double(len.inputs), Ld = double(len.targets), f = s.gated() ? 3 : 2;
  const double encoder_layer = 2 * Le * 4 * dm * inner + 4 * Le * Le * inner + 2 * Le * f * dm * ff;
  const double decoder_layer = 2 * Ld * 4 * dm * inner + 4 * Ld * Ld * inner + 2 * Ld * 2 * dm * inner +
                               2 * Le * 2 * dm * inner + 4 * Ld * Le * inner + 2 * Ld * f * dm * ff;
  const double lm_head = 2 * Ld * dm * V;
  return 3 * double(len.batch) * (double(s.el) * encoder_layer + double(s.dl) * decoder_layer + lm_head);
}

TEST(Profile, ComponentFlopsSumToSpecTotal) {
  const Lengths lengths[] = {{.inputs = 128, .targets = 29, .batch = 32}, {.inputs = 512, .targets = 114, .batch = 128},
                             {.inputs = 7, .targets = 300, .batch = 3}};
  for (const char* name : {"t5-efficient-tiny", "t5-v1_1-small", "t5-efficient-small-el16-dl4", "tiny-el12-kv32",
                           "t5-v1_1-base", "t5-efficient-tiny-nl16"}) {
    const Shape s = parse_shape_name(name);
    for (const Lengths& len : lengths) {
      double sum = 0;
      for (int i = 0; i < kNumComponents; ++i) sum += step_flops(s, len, StepComponent(i));
      EXPECT_EQ(sum, spec_train_flops(s, len)) << name << " " << len.inputs << "/" << len.targets;
      EXPECT_EQ(sum, count_flops(s, len).train_per_step) << name;
    }
  }
}

TEST(Profile, LapsChargeTheNamedComponentOnlyWhileInstalled) {
  StepProfile p;
  {
    ProfileClock idle;  // no profile installed: laps are no-ops
    idle.lap(StepComponent::output_head, Direction::forward);
  }
  EXPECT_EQ(p.total(), 0.0);
  {
    const ProfileScope scope(p);
    EXPECT_THROW(ProfileScope again(p), Error);  // one recording at a time
    ProfileClock clock;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    clock.lap(StepComponent::encoder_feed_forward, Direction::backward);
    clock.lap(StepComponent::decoder_cross_attention, Direction::forward);
  }
  EXPECT_GE(p.at(StepComponent::encoder_feed_forward, Direction::backward), 0.003);
  EXPECT_GE(p.at(StepComponent::decoder_cross_attention, Direction::forward), 0.0);
  EXPECT_EQ(p.at(StepComponent::encoder_feed_forward, Direction::forward), 0.0);
  EXPECT_DOUBLE_EQ(p.total(), p.at(StepComponent::encoder_feed_forward, Direction::backward) +
                                  p.at(StepComponent::decoder_cross_attention, Direction::forward));
  ProfileClock after;  // the scope has ended
  after.lap(StepComponent::output_head, Direction::forward);
  EXPECT_EQ(p.at(StepComponent::output_head, Direction::forward), 0.0);
}

TEST(Profile, ComponentNames) {
  EXPECT_STREQ(to_string(StepComponent::encoder_embedding), "encoder_embedding");
  EXPECT_STREQ(to_string(StepComponent::decoder_cross_attention), "decoder_cross_attention");
  EXPECT_STREQ(to_string(StepComponent::output_head), "output_head");
}

}  // namespace
}  // namespace t5
