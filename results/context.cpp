#include "results/context.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
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
// The value of an environment variable, "" when unset.
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
}  // namespace

nlohmann::json slurm_context() {
  nlohmann::json slurm = nlohmann::json::object();
  const std::string job = env("SLURM_JOB_ID"), array_job = env("SLURM_ARRAY_JOB_ID"), task = env("SLURM_ARRAY_TASK_ID");
  if (!job.empty()) slurm["job_id"] = job;
  if (!array_job.empty()) slurm["array_job_id"] = array_job;
  if (!task.empty()) {
    // An index Slurm set is a whole number; anything else is kept as written rather than lost.
    char* end = nullptr;
    const long long index = std::strtoll(task.c_str(), &end, 10);
    slurm["array_task_id"] = *end == '\0' ? nlohmann::json(index) : nlohmann::json(task);
    // How squeue, scancel and the log file names (%A_%a) write the task.
    if (!array_job.empty()) slurm["task"] = array_job + "_" + task;
  }
  if (slurm.empty()) return slurm;   // not a Slurm job: the rest would describe the login shell
  if (const std::string cluster = env("SLURM_CLUSTER_NAME"); !cluster.empty()) slurm["cluster"] = cluster;
  if (const std::string node = env("SLURMD_NODENAME"); !node.empty()) slurm["node"] = node;
  return slurm;
}

nlohmann::json run_context(int ranks) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  nlohmann::json context = {{"date", utc_now()},
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
  if (nlohmann::json slurm = slurm_context(); !slurm.empty()) context["slurm"] = std::move(slurm);
  return context;
}

}  // namespace t5
