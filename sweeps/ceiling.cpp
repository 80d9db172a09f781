// The sweep's stored GEMM ceiling (see ceiling.h).
#include "sweeps/ceiling.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/ceiling.h"

namespace t5 {

double sweep_gemm_ceiling(const std::string& dir, const Shape& shape, const Lengths& lengths,
                          GemmPrecision precision) {
  const std::string path = dir + "/ceiling.json";
  if (std::filesystem::exists(path)) {
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(path), nullptr, false);
    // Files written before the precision was recorded were fp32; before the path was, native.
    if (!j.is_discarded() && j.value("flops_per_second", 0.0) > 0 &&
        j.value("precision", std::string("fp32")) == to_string(precision) &&
        j.value("precision_path", std::string("native")) == to_string(precision_path(precision)))
      return j["flops_per_second"].get<double>();
  }
  const GemmCeiling c = measure_gemm_ceiling(shape, lengths, precision);
  std::filesystem::create_directories(dir);
  nlohmann::json j = to_json(c);
  j["shape"] = shape.name;
  write_text_atomic(path, j.dump(2) + "\n");
  return c.flops_per_second;
}

}  // namespace t5
