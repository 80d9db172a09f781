#include "results/context.h"

#include <chrono>
#include <fstream>
#include <thread>

#include <omp.h>
#include <unistd.h>

#include "build_info.h"
#include "core/cpu_isa.h"
#include "core/gemm.h"

namespace t5 {

namespace {
std::string utc_now() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}
}  // namespace

nlohmann::json run_context(int ranks) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return {{"date", utc_now()},
          {"host", host},
          {"cpu", cpu_model_name()},
          {"cpu_isa", cpu_context()},
          {"num_cpus", std::thread::hardware_concurrency()},
          {"threads", omp_get_max_threads()},
          {"ranks", ranks},
          {"threads_per_rank", omp_get_max_threads()},
          {"build_type", T5SCALE_BUILD_TYPE},
          {"compiler", T5SCALE_CXX_COMPILER},
          {"arch", T5SCALE_ARCH},
          {"arch_flags", T5SCALE_ARCH_FLAGS},
          {"openblas", openblas_config()},
          {"onednn", onednn_version()},
          {"gemm_backend", to_string(gemm_backend())},
          {"git_commit", T5SCALE_GIT_COMMIT},
          {"t5scale_version", T5SCALE_VERSION}};
}

}  // namespace t5
