// The kernel variants of this binary and the choice among them (core/kernels/dispatch.h), and the
// dispatching definitions of the optimizer loops. The layer kernels dispatch in core/layers.cpp.
#include "core/kernels/dispatch.h"

#include "core/error.h"

namespace t5 {

// One declaration block per compiled variant; CMake defines T5SCALE_NATIVE_KERNELS in native builds.
#define T5_DECLARE_VARIANT(ns)                      \
  namespace ns {                                    \
  extern const LayerKernels<float> kLayersFloat;    \
  extern const LayerKernels<double> kLayersDouble;  \
  extern const OptimizerKernels kOptimizer;         \
  extern const ConvertKernels kConvert;             \
  }
#if T5SCALE_NATIVE_KERNELS
T5_DECLARE_VARIANT(isa_native)
#else
T5_DECLARE_VARIANT(isa_avx512)
T5_DECLARE_VARIANT(isa_avx2)
T5_DECLARE_VARIANT(isa_baseline)
#endif
#undef T5_DECLARE_VARIANT

const std::vector<KernelVariant>& kernel_variants() {
#define T5_VARIANT(name, level, ns) KernelVariant{name, level, &ns::kLayersFloat, &ns::kLayersDouble, &ns::kOptimizer, &ns::kConvert}
#if T5SCALE_NATIVE_KERNELS
  // Compiled for the build machine: the binary runs only where that CPU's instructions exist.
  static const std::vector<KernelVariant> variants = {T5_VARIANT("native", detected_isa(), isa_native)};
#else
  static const std::vector<KernelVariant> variants = {T5_VARIANT("avx512", IsaLevel::avx512, isa_avx512),
                                                      T5_VARIANT("avx2", IsaLevel::avx2, isa_avx2),
                                                      T5_VARIANT("baseline", IsaLevel::baseline, isa_baseline)};
#endif
#undef T5_VARIANT
  return variants;
}

const KernelVariant& active_kernels() {
  static const KernelVariant& chosen = [&]() -> const KernelVariant& {
    const IsaLevel level = active_isa();
    for (const KernelVariant& v : kernel_variants())
      if (v.level <= level || v.name == "native") return v;
    return kernel_variants().back();  // baseline: every x86-64-v2 CPU
  }();
  return chosen;
}

std::vector<std::string> runnable_kernel_variants() {
  std::vector<std::string> names;
  for (const KernelVariant& v : kernel_variants())
    if (v.level <= detected_isa() || v.name == "native") names.push_back(v.name);
  return names;
}

const KernelVariant& kernels_named(const std::string& name) {
  for (const KernelVariant& v : kernel_variants()) {
    if (v.name != name) continue;
    T5_CHECK(v.level <= detected_isa() || v.name == "native", "kernel variant '{}' needs {} ({}); this CPU is {}",
             name, to_string(v.level), march_of(v.level), to_string(detected_isa()));
    return v;
  }
  throw Error(fmt::format("this binary has no kernel variant '{}'", name));
}

double sum_squares(const float* x, int64_t n) { return active_kernels().optimizer->sum_squares(x, n); }

void adamw_update(const AdamWStep& s, float* w, float* m, float* v, const float* g, float* zero, int64_t begin,
                  int64_t end) {
  active_kernels().optimizer->adamw_update(s, w, m, v, g, zero, begin, end);
}

void adafactor_update(const AdafactorStep& s, const AdafactorBuffers& b, float* w, const float* g, float* zero,
                      int64_t n) {
  active_kernels().optimizer->adafactor_update(s, b, w, g, zero, n);
}

}  // namespace t5
