// Step profile (core/profile.h): component names, their SPEC §3 FLOPs, the scope and the lap clock.
#include "core/profile.h"

#include "core/error.h"
#include "core/timing.h"

namespace t5 {

const char* to_string(StepComponent c) {
  switch (c) {
    case StepComponent::encoder_embedding: return "encoder_embedding";
    case StepComponent::encoder_self_attention: return "encoder_self_attention";
    case StepComponent::encoder_feed_forward: return "encoder_feed_forward";
    case StepComponent::encoder_final_norm: return "encoder_final_norm";
    case StepComponent::decoder_embedding: return "decoder_embedding";
    case StepComponent::decoder_self_attention: return "decoder_self_attention";
    case StepComponent::decoder_cross_attention: return "decoder_cross_attention";
    case StepComponent::decoder_feed_forward: return "decoder_feed_forward";
    case StepComponent::decoder_final_norm: return "decoder_final_norm";
    case StepComponent::output_head: return "output_head";
  }
  return "?";
}

double component_flops_per_step(StepComponent c, const FlopBreakdown& f, int64_t batch) {
  double forward_per_example = 0;  // embeddings, bias tables and norms do no matmul work (SPEC §3)
  switch (c) {
    case StepComponent::encoder_self_attention: forward_per_example = f.encoder_attention; break;
    case StepComponent::encoder_feed_forward: forward_per_example = f.encoder_feed_forward; break;
    case StepComponent::decoder_self_attention: forward_per_example = f.decoder_self_attention; break;
    case StepComponent::decoder_cross_attention: forward_per_example = f.decoder_cross_attention; break;
    case StepComponent::decoder_feed_forward: forward_per_example = f.decoder_feed_forward; break;
    case StepComponent::output_head: forward_per_example = f.lm_head; break;
    default: break;
  }
  return 3 * forward_per_example * double(batch);
}

double StepProfile::total() const {
  double t = 0;
  for (const auto& c : seconds) t += c[0] + c[1];
  return t;
}

ProfileScope::ProfileScope(StepProfile& p) {
  T5_CHECK(detail::g_active_profile == nullptr, "profile: a step profile is already being recorded");
  detail::g_active_profile = &p;
}

ProfileScope::~ProfileScope() { detail::g_active_profile = nullptr; }

ProfileClock::ProfileClock() : profile_(detail::g_active_profile) {
  if (profile_) last_ = now_seconds();
}

void ProfileClock::charge(StepComponent c, Direction d) {
  const double now = now_seconds();
  profile_->at(c, d) += now - last_;
  last_ = now;
}

}  // namespace t5
