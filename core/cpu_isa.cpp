// CPU detection, the ISA cap, and the libraries' kernel choice (see core/cpu_isa.h).
// Sources: Intel SDM vol. 2A, CPUID leaves 1, 7 (subleaves 0 and 1) and 0x80000001, and vol. 1
// §13.3 (XCR0 state components); the x86-64 psABI's micro-architecture levels; oneDNN 2.6
// "CPU Dispatcher Control" (dnnl_set_max_cpu_isa must precede the first primitive).
#include "core/cpu_isa.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include <cblas.h>
#include <cpuid.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "core/gemm.h"
#include "core/kernels/dispatch.h"

// Debian's OpenBLAS is a DYNAMIC_ARCH build that picks its kernels once, when the library loads: from
// OPENBLAS_CORETYPE if set, else from its CPU detection, which does not know AMD Zen 4/5 (or Sapphire
// Rapids) and falls back to AVX2 "Haswell" kernels, or picks "Cooperlake" where we cap at AVX2. The
// Haswell kernels run sgemm at about half the speed of the AVX-512 "SkylakeX" ones on AVX-512 CPUs
// (feed-forward-sized products 19 ms vs 10 ms of CPU time, one thread). So at start-up we re-select
// its core to match the active level (gotoblas_dynamic_quit/init, exported by DYNAMIC_ARCH builds;
// weak so that other builds still link) and set OPENBLAS_CORETYPE so that child processes (the
// PyTorch peer) inherit the choice. T5SCALE_KEEP_OPENBLAS_CORETYPE=1 keeps whatever OpenBLAS chose.
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace t5 {

const char* to_string(IsaLevel level) {
  switch (level) {
    case IsaLevel::baseline: return "baseline";
    case IsaLevel::avx2: return "avx2";
    case IsaLevel::avx512: return "avx512";
  }
  return "?";
}

const char* march_of(IsaLevel level) {
  switch (level) {
    case IsaLevel::baseline: return "x86-64-v2";
    case IsaLevel::avx2: return "x86-64-v3";
    case IsaLevel::avx512: return "x86-64-v4";
  }
  return "?";
}

IsaLevel parse_isa_level(const std::string& text, const std::string& where) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (t == "baseline" || t == "sse4.2" || t == "sse42" || t == "sse41" || t == "x86-64-v2") return IsaLevel::baseline;
  if (t == "avx2" || t == "x86-64-v3") return IsaLevel::avx2;
  if (t == "avx512" || t == "x86-64-v4" || t.starts_with("avx512_core")) return IsaLevel::avx512;
  throw Error(fmt::format("{}: unknown instruction-set level '{}'", where, text),
              "use baseline, avx2 or avx512 (x86-64-v2, -v3, -v4)");
}

namespace {

bool bit(uint32_t word, int b) { return (word >> b) & 1u; }

// XCR0 components: 1 SSE, 2 AVX (upper YMM), 5 opmask, 6 ZMM_Hi256, 7 Hi16_ZMM, 17 XTILECFG, 18 XTILEDATA.
constexpr uint64_t kXcr0Ymm = (1u << 1) | (1u << 2);
constexpr uint64_t kXcr0Zmm = kXcr0Ymm | (1u << 5) | (1u << 6) | (1u << 7);
constexpr uint64_t kXcr0Amx = (uint64_t(1) << 17) | (uint64_t(1) << 18);

CpuidWords read_cpuid() {
  CpuidWords w;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return w;
  const unsigned max_leaf = a;
  w.vendor[0] = b, w.vendor[1] = d, w.vendor[2] = c;
  if (__get_cpuid(1, &a, &b, &c, &d)) w.leaf1_ecx = c, w.leaf1_edx = d;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    w.leaf7_ebx = b, w.leaf7_ecx = c, w.leaf7_edx = d;
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      w.leaf7_1_eax = a;
    }
  }
  if (__get_cpuid(0x80000001u, &a, &b, &c, &d)) w.ext1_ecx = c;
  if (bit(w.leaf1_ecx, 27)) {  // OSXSAVE: xgetbv is allowed
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    w.xcr0 = (uint64_t(hi) << 32) | lo;
  }
  return w;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

struct IsaState {
  IsaLevel detected = IsaLevel::baseline;
  IsaLevel active = IsaLevel::baseline;
  bool capped = false;
};

const IsaState& isa_state() {
  static const IsaState state = [] {
    IsaState s;
    s.detected = best_level(cpu_features());
    s.active = s.detected;
    const std::string cap = env_or_empty("T5SCALE_MAX_CPU_ISA");
    if (!cap.empty()) {
      const IsaLevel limit = parse_isa_level(cap, "environment variable T5SCALE_MAX_CPU_ISA");
      if (limit < s.detected) s.active = limit, s.capped = true;
    }
    return s;
  }();
  return state;
}

dnnl::cpu_isa onednn_limit(IsaLevel level) {
  switch (level) {
    case IsaLevel::baseline: return dnnl::cpu_isa::sse41;
    case IsaLevel::avx2: return dnnl::cpu_isa::avx2;
    case IsaLevel::avx512: return dnnl::cpu_isa::all;
  }
  return dnnl::cpu_isa::all;
}

bool avx512_core_name(const std::string& name) {
  return name == "SkylakeX" || name == "Cooperlake" || name == "SapphireRapids";
}
bool avx2_core_name(const std::string& name) {
  return name == "Haswell" || name == "Zen" || avx512_core_name(name);
}

// The OpenBLAS core for the active level, or "" to keep what OpenBLAS chose.
std::string wanted_openblas_core(IsaLevel level, const std::string& current) {
  switch (level) {
    case IsaLevel::avx512: return avx512_core_name(current) ? "" : "SkylakeX";
    case IsaLevel::avx2: return avx512_core_name(current) ? "Haswell" : "";
    case IsaLevel::baseline: return avx2_core_name(current) || current == "Sandybridge" ? "Nehalem" : "";
  }
  return "";
}

// Runs during static initialisation, before anything has called BLAS.
const bool kOpenBlasCoreChosen = [] {
  if (std::getenv("T5SCALE_KEEP_OPENBLAS_CORETYPE") != nullptr || !gotoblas_dynamic_init || !gotoblas_dynamic_quit)
    return false;
  IsaLevel level;
  try {
    level = active_isa();
  } catch (const Error&) {
    return false;  // a malformed cap is reported by the first caller outside static initialisation
  }
  const std::string core = wanted_openblas_core(level, openblas_get_corename());
  if (core.empty()) return false;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  return true;
}();

}  // namespace

CpuFeatures decode_cpu_features(const CpuidWords& w) {
  CpuFeatures f;
  f.vendor.assign(reinterpret_cast<const char*>(w.vendor), 12);
  if (f.vendor.find('\0') != std::string::npos) f.vendor.clear();
  f.sse42 = bit(w.leaf1_ecx, 20);
  f.popcnt = bit(w.leaf1_ecx, 23);
  f.os_ymm = (w.xcr0 & kXcr0Ymm) == kXcr0Ymm;
  f.os_zmm = (w.xcr0 & kXcr0Zmm) == kXcr0Zmm;
  f.os_amx = (w.xcr0 & kXcr0Amx) == kXcr0Amx;
  f.avx = bit(w.leaf1_ecx, 28) && f.os_ymm;
  f.fma = bit(w.leaf1_ecx, 12) && f.os_ymm;
  f.f16c = bit(w.leaf1_ecx, 29) && f.os_ymm;
  f.movbe = bit(w.leaf1_ecx, 22);
  f.avx2 = bit(w.leaf7_ebx, 5) && f.os_ymm;
  f.bmi1 = bit(w.leaf7_ebx, 3);
  f.bmi2 = bit(w.leaf7_ebx, 8);
  f.lzcnt = bit(w.ext1_ecx, 5);
  f.avx512f = bit(w.leaf7_ebx, 16) && f.os_zmm;
  f.avx512dq = bit(w.leaf7_ebx, 17) && f.os_zmm;
  f.avx512cd = bit(w.leaf7_ebx, 28) && f.os_zmm;
  f.avx512bw = bit(w.leaf7_ebx, 30) && f.os_zmm;
  f.avx512vl = bit(w.leaf7_ebx, 31) && f.os_zmm;
  f.avx512_bf16 = bit(w.leaf7_1_eax, 5) && f.avx512f;
  f.amx_bf16 = bit(w.leaf7_edx, 22) && f.os_amx;
  f.amx_tile = bit(w.leaf7_edx, 24) && f.os_amx;
  return f;
}

IsaLevel best_level(const CpuFeatures& f) {
  const bool v3 = f.sse42 && f.popcnt && f.avx && f.avx2 && f.fma && f.f16c && f.bmi1 && f.bmi2 && f.lzcnt && f.movbe;
  const bool v4 = v3 && f.avx512f && f.avx512bw && f.avx512cd && f.avx512dq && f.avx512vl;
  return v4 ? IsaLevel::avx512 : v3 ? IsaLevel::avx2 : IsaLevel::baseline;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = decode_cpu_features(read_cpuid());
  return features;
}

IsaLevel detected_isa() { return isa_state().detected; }

IsaLevel active_isa() {
  apply_isa_cap();
  return isa_state().active;
}

bool isa_capped() { return isa_state().capped; }

void apply_isa_cap() {
  static std::once_flag once;
  std::call_once(once, [] {
    const IsaState& s = isa_state();
    // An explicit oneDNN cap in the environment is the user's word; otherwise ours applies to it.
    if (!s.capped || !env_or_empty("ONEDNN_MAX_CPU_ISA").empty() || !env_or_empty("DNNL_MAX_CPU_ISA").empty()) return;
    dnnl::set_max_cpu_isa(onednn_limit(s.active));  // a no-op error if oneDNN already ran: it cannot be
  });
}

std::string onednn_isa() {
  apply_isa_cap();
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// CPUID's brand string (leaves 0x80000002-4): what the CPU running us says, also under an emulator;
// /proc/cpuinfo's "model name" (the host's) otherwise.
std::string cpu_model_name() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      unsigned regs[4] = {};
      __get_cpuid(0x80000002u + leaf, &regs[0], &regs[1], &regs[2], &regs[3]);
      std::memcpy(brand + 16 * leaf, regs, sizeof regs);
    }
    std::string name(brand);
    const size_t first = name.find_first_not_of(' '), last = name.find_last_not_of(' ');
    if (first != std::string::npos) return name.substr(first, last - first + 1);
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto pos = line.find(':');
      return pos == std::string::npos ? line : line.substr(pos + 2);
    }
  return "unknown";
}

namespace {
std::string feature_list(const CpuFeatures& f) {
  std::string out;
  auto add = [&](bool present, const char* name) {
    if (!present) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(f.avx2, "AVX2");
  add(f.fma, "FMA");
  if (f.avx512f) {
    std::string v = "AVX512F";
    if (f.avx512bw) v += "/BW";
    if (f.avx512vl) v += "/VL";
    if (f.avx512dq) v += "/DQ";
    add(true, v.c_str());
  }
  add(f.avx512_bf16, "AVX512_BF16");
  add(f.amx_bf16, "AMX-BF16");
  if (!f.avx512f) add(true, "no AVX-512");
  if (!f.amx_bf16) add(true, "no AMX");
  return out;
}
}  // namespace

std::string cpu_summary() {
  const IsaLevel active = active_isa();
  std::string line = fmt::format("{} ({}; {}); kernels {}, oneDNN {}, bf16 matmul {}", to_string(detected_isa()),
                                 march_of(detected_isa()), feature_list(cpu_features()), active_kernels().name,
                                 onednn_isa(), bf16_matmul_native() ? "native" : "emulated");
  if (isa_capped()) line += fmt::format(" (capped by T5SCALE_MAX_CPU_ISA={})", to_string(active));
  return line;
}

nlohmann::json cpu_context() {
  const CpuFeatures& f = cpu_features();
  return {{"model", cpu_model_name()},
          {"vendor", f.vendor},
          {"isa_detected", to_string(detected_isa())},
          {"isa_active", to_string(active_isa())},
          {"isa_capped", isa_capped()},
          {"kernels", active_kernels().name},
          {"onednn_isa", onednn_isa()},
          {"bf16_matmul", bf16_matmul_native() ? "native" : "emulated"},
          {"features",
           {{"avx2", f.avx2},
            {"fma", f.fma},
            {"avx512f", f.avx512f},
            {"avx512bw", f.avx512bw},
            {"avx512vl", f.avx512vl},
            {"avx512dq", f.avx512dq},
            {"avx512_bf16", f.avx512_bf16},
            {"amx_bf16", f.amx_bf16}}}};
}

}  // namespace t5
