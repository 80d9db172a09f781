// The GEMM ceiling a sweep's MFU is measured against: core/ceiling.h's probe at one shape of the
// sweep, measured once and stored beside the records (results/<sweep>/ceiling.json), so a resumed or
// second worker of the same sweep divides by the same number.
#pragma once

#include <string>

#include "core/counts.h"
#include "core/gemm.h"
#include "core/shape.h"

namespace t5 {

// FLOP/s of <dir>/ceiling.json if present and measured in `precision` (the sweep's: a bf16 sweep's MFU
// is against the bf16 ceiling) on the path this process's products of that precision take (native or
// emulated bf16, core/gemm.h: on a cluster of mixed CPUs one node's native bf16 ceiling is no
// ceiling for another's emulated products, and vice versa), else measured at (shape, lengths) in this
// process and written there.
double sweep_gemm_ceiling(const std::string& dir, const Shape& shape, const Lengths& lengths,
                          GemmPrecision precision = GemmPrecision::fp32);

}  // namespace t5
