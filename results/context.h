// The context block of every record t5scale writes (STYLE.md, Google Benchmark's JSON): date, host,
// CPU, threads, build type, compiler, library versions and git commit.
#pragma once

#include <nlohmann/json.hpp>

namespace t5 {

nlohmann::json run_context();

}  // namespace t5
