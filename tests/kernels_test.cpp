// core/cpu_isa.h and core/kernels/dispatch.h: CPUID decoding against words worked by hand from the
// Intel SDM (leaf 1 ECX, leaf 7 EBX/EDX, leaf 7.1 EAX, 0x80000001 ECX, XCR0), this machine's features
// against /proc/cpuinfo (the kernel's own reading), the cap, and every kernel variant the CPU can run
// against the others (the layer kernels are checked against the double reference in layers_test.cpp).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "core/cpu_isa.h"
#include "core/error.h"
#include "core/kernels/dispatch.h"

namespace t5 {
namespace {

// "GenuineIntel" as CPUID leaf 0 returns it: EBX "Genu", EDX "ineI", ECX "ntel" (little-endian).
CpuidWords intel_words() {
  CpuidWords w;
  w.vendor[0] = 0x756e6547u, w.vendor[1] = 0x49656e69u, w.vendor[2] = 0x6c65746eu;
  return w;
}

// A Haswell: SSE4.2 (ECX 20), POPCNT (23), FMA (12), MOVBE (22), OSXSAVE (27), AVX (28), F16C (29);
// leaf 7 EBX AVX2 (5), BMI1 (3), BMI2 (8); LZCNT (0x80000001 ECX 5); XCR0 = x87|SSE|AVX = 0x7.
CpuidWords haswell() {
  CpuidWords w = intel_words();
  w.leaf1_ecx = (1u << 20) | (1u << 23) | (1u << 12) | (1u << 22) | (1u << 27) | (1u << 28) | (1u << 29);
  w.leaf7_ebx = (1u << 5) | (1u << 3) | (1u << 8);
  w.ext1_ecx = 1u << 5;
  w.xcr0 = 0x7;
  return w;
}

// A Sapphire Rapids: Haswell's bits plus AVX512 F (16), DQ (17), CD (28), BW (30), VL (31);
// AVX512_BF16 (leaf 7.1 EAX 5); AMX-BF16 (leaf 7 EDX 22), AMX-TILE (24); XCR0 adds opmask, ZMM_Hi256,
// Hi16_ZMM (0xe0) and XTILECFG/XTILEDATA (bits 17, 18).
CpuidWords sapphire_rapids() {
  CpuidWords w = haswell();
  w.leaf7_ebx |= (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
  w.leaf7_1_eax = 1u << 5;
  w.leaf7_edx = (1u << 22) | (1u << 24);
  w.xcr0 = 0xe7 | (1u << 17) | (1u << 18);
  return w;
}

TEST(CpuIsa, DecodesAHaswellAsAvx2) {
  const CpuFeatures f = decode_cpu_features(haswell());
  EXPECT_EQ(f.vendor, "GenuineIntel");
  EXPECT_TRUE(f.avx2 && f.fma && f.f16c && f.bmi2 && f.lzcnt);
  EXPECT_FALSE(f.avx512f || f.avx512_bf16 || f.amx_bf16);
  EXPECT_EQ(best_level(f), IsaLevel::avx2);
}

TEST(CpuIsa, DecodesASapphireRapidsAsAvx512WithBf16AndAmx) {
  const CpuFeatures f = decode_cpu_features(sapphire_rapids());
  EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512cd);
  EXPECT_TRUE(f.avx512_bf16 && f.amx_bf16 && f.amx_tile);
  EXPECT_EQ(best_level(f), IsaLevel::avx512);
}

TEST(CpuIsa, RegistersTheOsDoesNotSaveDoNotCount) {
  CpuidWords w = sapphire_rapids();
  w.xcr0 = 0x7;  // an OS (or hypervisor) that saves YMM but not ZMM, opmask or tiles
  const CpuFeatures f = decode_cpu_features(w);
  EXPECT_FALSE(f.avx512f || f.avx512_bf16 || f.amx_bf16);
  EXPECT_EQ(best_level(f), IsaLevel::avx2);
  w.leaf1_ecx &= ~(1u << 27);  // no OSXSAVE: no xgetbv, XCR0 reads as 0, no AVX at all
  w.xcr0 = 0;
  EXPECT_EQ(best_level(decode_cpu_features(w)), IsaLevel::baseline);
}

TEST(CpuIsa, EveryFeatureOfALevelIsNeeded) {
  CpuidWords w = haswell();
  w.leaf7_ebx &= ~(1u << 8);  // no BMI2 (x86-64-v3 needs it): baseline
  EXPECT_EQ(best_level(decode_cpu_features(w)), IsaLevel::baseline);
  w = sapphire_rapids();
  w.leaf7_ebx &= ~(1u << 30);  // AVX512F without BW (Knights Landing): not x86-64-v4
  EXPECT_EQ(best_level(decode_cpu_features(w)), IsaLevel::avx2);
}

TEST(CpuIsa, ParsesLevelsAndNamesTheSourceOfABadOne) {
  EXPECT_EQ(parse_isa_level("AVX2", "x"), IsaLevel::avx2);
  EXPECT_EQ(parse_isa_level("x86-64-v4", "x"), IsaLevel::avx512);
  EXPECT_EQ(parse_isa_level("AVX512_CORE_BF16", "x"), IsaLevel::avx512);
  EXPECT_EQ(parse_isa_level("baseline", "x"), IsaLevel::baseline);
  try {
    parse_isa_level("avx3", "environment variable T5SCALE_MAX_CPU_ISA");
    FAIL() << "accepted avx3";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "environment variable T5SCALE_MAX_CPU_ISA: unknown instruction-set level 'avx3'");
  }
}

// The flags Linux prints in /proc/cpuinfo: an independent reading of the same CPUID bits and XCR0.
std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    }
  return {};
}

std::string proc_cpuinfo_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "";
}

TEST(CpuIsa, ThisMachineAgreesWithProcCpuinfo) {
  const std::set<std::string> flags = proc_cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags line";
  if (cpu_model_name() != proc_cpuinfo_model())  // qemu-user: the host's file, the emulated CPU's CPUID
    GTEST_SKIP() << "/proc/cpuinfo describes " << proc_cpuinfo_model() << ", CPUID " << cpu_model_name();
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(f.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(f.fma, flags.count("fma") == 1);
  EXPECT_EQ(f.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(f.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(f.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(f.avx512_bf16, flags.count("avx512_bf16") == 1);
  EXPECT_EQ(f.amx_bf16, flags.count("amx_bf16") == 1);
  std::cout << "this CPU: " << cpu_model_name() << ": " << cpu_summary() << "\n";
}

TEST(CpuIsa, TheCapBindsOurKernelsAndOneDnn) {
  const char* cap = std::getenv("T5SCALE_MAX_CPU_ISA");
  const IsaLevel limit = cap ? parse_isa_level(cap, "T5SCALE_MAX_CPU_ISA") : IsaLevel::avx512;
  EXPECT_EQ(active_isa(), std::min(limit, detected_isa()));
  if (active_kernels().name != "native") EXPECT_LE(active_kernels().level, active_isa());  // native: cannot be capped
  EXPECT_EQ(isa_capped(), limit < detected_isa());
  const std::string onednn = onednn_isa();
  if (active_isa() < IsaLevel::avx512) EXPECT_EQ(onednn.find("avx512"), std::string::npos) << onednn;
  std::cout << "kernels " << active_kernels().name << ", oneDNN " << onednn << "\n";
}

TEST(KernelDispatch, PortableBuildsHoldEveryLevelAndPickTheBestAllowed) {
  std::vector<std::string> names;
  for (const KernelVariant& v : kernel_variants()) names.push_back(v.name);
  if (names == std::vector<std::string>{"native"}) GTEST_SKIP() << "native build: one variant";
  EXPECT_EQ(names, (std::vector<std::string>{"avx512", "avx2", "baseline"}));
  EXPECT_EQ(active_kernels().name, to_string(active_isa()));
  const std::vector<std::string> runnable = runnable_kernel_variants();
  EXPECT_EQ(runnable.back(), "baseline");  // every x86-64-v2 CPU runs it
  EXPECT_EQ(runnable.front(), to_string(detected_isa()));
  if (detected_isa() < IsaLevel::avx512) EXPECT_THROW((void)kernels_named("avx512"), Error);
  EXPECT_THROW((void)kernels_named("sse2"), Error);
}

std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The optimizer loops reduce in a fixed order (explicit lanes), so variants differ only where GCC
// contracts a·b + c into one FMA (its default for C++, -ffp-contract=fast): never on the baseline
// level, which has no FMA. So the FMA variants (avx2, avx512) must agree bit for bit, and the
// baseline within the rounding of the double intermediates to float (a few float ulps).
TEST(KernelDispatch, OptimizerLoopsAgreeAcrossVariants) {
  const int64_t R = 37, C = 53, n = R * C;
  const std::vector<float> g = random_floats(size_t(n), 1), w0 = random_floats(size_t(n), 2);
  struct Result {
    double ss;
    std::vector<float> w_adam, m, v, w_ada, vr, vc, m_ada;
  };
  auto run = [&](const OptimizerKernels& k) {
    Result r;
    r.ss = k.sum_squares(g.data(), n - 3);  // a partial lane group at the end
    r.w_adam = w0, r.m.assign(size_t(n), 0.1f), r.v.assign(size_t(n), 0.2f);
    const AdamWStep a{0.9, 0.999, 1e-3, 0.3, 1e-8, 0.99f, 0.5f};
    k.adamw_update(a, r.w_adam.data(), r.m.data(), r.v.data(), g.data(), nullptr, 5, n);
    r.w_ada = w0, r.vr.assign(size_t(R), 0.01f), r.vc.assign(size_t(C), 0.02f), r.m_ada.assign(size_t(n), 0.0f);
    std::vector<float> x(static_cast<size_t>(n));
    std::vector<double> col(static_cast<size_t>(C)), root(static_cast<size_t>(C));
    AdafactorStep s{};
    s.decay = 0.8, s.mixing = 0.2, s.eps1 = 1e-30f, s.coef = 0.7f, s.lr = 1e-2, s.epsilon2 = 1e-3;
    s.clipping_threshold = 1.0, s.weight_decay = 1e-4, s.beta1 = 0.9, s.multiply_by_parameter_scale = true;
    s.factored = true, s.R = R, s.C = C;
    AdafactorBuffers b{r.vr.data(), r.vc.data(), nullptr, r.m_ada.data(), x.data(), col.data(), root.data()};
    k.adafactor_update(s, b, r.w_ada.data(), g.data(), nullptr, n);
    return r;
  };
  auto close = [](const std::vector<float>& x, const std::vector<float>& y) {
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::abs(double(x[i]) - double(y[i])) / std::max(1e-3, std::abs(double(y[i]))));
    return worst;
  };
  const std::vector<std::string> names = runnable_kernel_variants();
  const Result ref = run(*kernels_named(names.front()).optimizer);  // the best level this CPU runs
  EXPECT_NE(ref.w_adam, w0);  // the updates did something
  EXPECT_NE(ref.w_ada, w0);
  for (const std::string& name : names) {
    const Result r = run(*kernels_named(name).optimizer);
    const bool fma = kernels_named(name).level >= IsaLevel::avx2 && kernels_named(names.front()).level >= IsaLevel::avx2;
    if (fma || name == "native") {
      EXPECT_EQ(r.ss, ref.ss) << name;
      EXPECT_EQ(r.w_adam, ref.w_adam) << name;
      EXPECT_EQ(r.m, ref.m) << name;
      EXPECT_EQ(r.v, ref.v) << name;
      EXPECT_EQ(r.w_ada, ref.w_ada) << name;
      EXPECT_EQ(r.vr, ref.vr) << name;
      EXPECT_EQ(r.vc, ref.vc) << name;
      EXPECT_EQ(r.m_ada, ref.m_ada) << name;
    } else {
      EXPECT_NEAR(r.ss, ref.ss, 1e-12 * ref.ss) << name;
      for (auto [x, y] : {std::pair{&r.w_adam, &ref.w_adam}, {&r.m, &ref.m}, {&r.v, &ref.v}, {&r.w_ada, &ref.w_ada},
                          {&r.vr, &ref.vr}, {&r.vc, &ref.vc}, {&r.m_ada, &ref.m_ada}})
        EXPECT_LT(close(*x, *y), 1e-6) << name;
    }
  }
}

// The bf16 conversions of every variant against the scalar rounding (round_to_bf16: nearest even,
// NaN kept quiet) on random values, ties, infinities and NaN.
TEST(KernelDispatch, Bf16ConversionsAgreeWithTheScalarRounding) {
  std::vector<float> x = random_floats(1000, 3, 100.0f);
  x.push_back(1.0f + 0x1.0p-8f);             // a tie: rounds to even (1.0)
  x.push_back(1.0f + 3 * 0x1.0p-8f);         // a tie: rounds to even (1 + 2^-6)
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  x.push_back(3.14159265f);
  for (const std::string& name : runnable_kernel_variants()) {
    const ConvertKernels& k = *kernels_named(name).convert;
    std::vector<bf16> b(x.size());
    std::vector<float> back(x.size());
    k.to_bf16(x.data(), b.data(), int64_t(x.size()));
    k.from_bf16(b.data(), back.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = round_to_bf16(x[i]);
      if (std::isnan(want)) EXPECT_TRUE(std::isnan(back[i])) << name << " " << i;
      else EXPECT_EQ(back[i], want) << name << " " << x[i];
    }
    EXPECT_EQ(back[1000], 1.0f) << name;
    EXPECT_EQ(back[1001], 1.0f + 0x1.0p-6f) << name;
    EXPECT_EQ(back[1005], 3.140625f) << name;  // 0x4049 by hand
  }
}

}  // namespace
}  // namespace t5
