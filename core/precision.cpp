// Names of the model's precision modes (core/model.h), as spelled on the command line, in sweep specs
// ("precision" key) and in run records.
#include <string>

#include "core/error.h"
#include "core/model.h"

namespace t5 {

const char* to_string(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

GemmPrecision gemm_precision(Precision p) { return p == Precision::bf16 ? GemmPrecision::bf16 : GemmPrecision::fp32; }

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  throw Error(fmt::format("unknown precision '{}'", text), "use fp32 or bf16");
}

}  // namespace t5
