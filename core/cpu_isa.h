// What this CPU can do, decided once per process, and the one place that chooses instruction sets
// (STYLE.md: "anything that touches the CPU's instruction set goes through one place that knows what
// the CPU can do and can be capped for tests"). Three consumers:
//   - our own kernels (core/kernels/): compiled once per ISA level and dispatched here at run time;
//   - oneDNN: capped with dnnl::set_max_cpu_isa when T5SCALE_MAX_CPU_ISA asks for less than the CPU;
//   - OpenBLAS: its DYNAMIC_ARCH core is re-selected to the best one the (capped) level allows.
// Levels follow the x86-64 micro-architecture levels of the psABI: baseline = x86-64-v2 (SSE4.2,
// what the default build targets), avx2 = x86-64-v3 (AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE),
// avx512 = x86-64-v4 (AVX-512 F, BW, CD, DQ, VL). A level needs the OS to save its registers too
// (XCR0 via xgetbv), not just the CPUID bits.
// T5SCALE_MAX_CPU_ISA=baseline|avx2|avx512 caps the level (tests run the AVX2 paths on AVX-512 CPUs).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace t5 {

enum class IsaLevel { baseline = 0, avx2 = 1, avx512 = 2 };

const char* to_string(IsaLevel level);      // "baseline", "avx2", "avx512"
const char* march_of(IsaLevel level);       // "x86-64-v2", "x86-64-v3", "x86-64-v4"
// Parses a level as T5SCALE_MAX_CPU_ISA spells it (case-insensitive; also the x86-64-vN names and
// oneDNN's AVX512_CORE*). Throws t5::Error naming `where` for anything else.
IsaLevel parse_isa_level(const std::string& text, const std::string& where);

// The CPUID bits that decide the levels, and the bf16/AMX extensions the bench and records report.
struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  bool sse42 = false, popcnt = false;
  bool avx = false, avx2 = false, fma = false, f16c = false, bmi1 = false, bmi2 = false, lzcnt = false,
       movbe = false;
  bool avx512f = false, avx512bw = false, avx512cd = false, avx512dq = false, avx512vl = false;
  bool avx512_bf16 = false, amx_tile = false, amx_bf16 = false;
  bool os_ymm = false, os_zmm = false, os_amx = false;  // XCR0: the OS saves YMM, ZMM/opmask, tile state
};

// Raw CPUID/XGETBV words, so that decoding is a pure function tests can feed by hand.
struct CpuidWords {
  uint32_t vendor[3] = {};             // leaf 0 EBX, EDX, ECX
  uint32_t leaf1_ecx = 0, leaf1_edx = 0;
  uint32_t leaf7_ebx = 0, leaf7_ecx = 0, leaf7_edx = 0;
  uint32_t leaf7_1_eax = 0;            // leaf 7 subleaf 1 (AVX512_BF16 is EAX bit 5)
  uint32_t ext1_ecx = 0;               // leaf 0x80000001 ECX (LZCNT is bit 5)
  uint64_t xcr0 = 0;                   // 0 when OSXSAVE is off
};
CpuFeatures decode_cpu_features(const CpuidWords& words);
IsaLevel best_level(const CpuFeatures& f);  // the highest level whose every feature is present

// This machine, read once.
const CpuFeatures& cpu_features();
// The level the CPU supports, and the level our kernels and the libraries are allowed to use:
// min(detected, T5SCALE_MAX_CPU_ISA). The first call also applies the cap to oneDNN; call it (or
// apply_isa_cap) before the first oneDNN primitive.
IsaLevel detected_isa();
IsaLevel active_isa();
bool isa_capped();        // T5SCALE_MAX_CPU_ISA is set below the detected level
void apply_isa_cap();     // idempotent

// oneDNN's effective ISA as it names it ("avx2", "avx512_core_bf16", ...), after the cap.
std::string onednn_isa();
// The CPU's model name from /proc/cpuinfo ("unknown" if unreadable).
std::string cpu_model_name();

// One line for --version and bench: "avx512 (x86-64-v4; AVX2 FMA AVX512F/BW/VL/DQ AVX512_BF16 no AMX);
// kernels avx512, oneDNN avx512_core_bf16" (and "(capped by T5SCALE_MAX_CPU_ISA=...)" when capped).
std::string cpu_summary();
// The same as JSON for every run record's context block.
nlohmann::json cpu_context();

}  // namespace t5
