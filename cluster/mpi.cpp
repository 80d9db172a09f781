// MPI sessions and the collective over MPI_COMM_WORLD (cluster/mpi.h). Errors of MPI calls return
// (MPI_ERRORS_RETURN) and become one-line t5::Errors naming the call and the rank.
#include "cluster/mpi.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <optional>
#include <cstdlib>

#include <unistd.h>

#ifdef T5SCALE_HAVE_MPI
#include <mpi.h>
#endif

namespace t5::cluster {

namespace {

MpiSession* g_session = nullptr;

// A non-negative integer environment variable; nullopt when unset.
std::optional<int> env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  T5_CHECK(*v != '\0' && *end == '\0' && errno == 0 && x >= 0 && x <= INT_MAX,
           "environment variable {}='{}': expected a non-negative integer (set by the MPI launcher)", name, v);
  return int(x);
}

std::string this_host() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

Launch launch_from_environment() {
  Launch l;
  const auto pick = [&](const char* size_var, const char* rank_var) {
    const auto size = env_int(size_var), rank = env_int(rank_var);
    if (!size) return false;
    l.launched = true;
    l.size = *size;
    l.rank = rank.value_or(0);
    return true;
  };
  if (pick("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK")) return l;
  if (std::getenv("PMIX_RANK") && pick("SLURM_STEP_NUM_TASKS", "PMIX_RANK")) return l;
  if (pick("PMI_SIZE", "PMI_RANK")) return l;
  return l;
}

MpiSession* current_session() { return g_session; }

void refuse_without_mpi(const Launch& launch) {
  if (launch.size > 1)
    throw SameOnEveryRank(fmt::format("started as {} MPI ranks, but this t5scale was built without MPI; "
                                      "it would train {} independent copies", launch.size, launch.size),
                          "install libopenmpi-dev (scripts/bootstrap.sh) and rebuild with -DT5SCALE_MPI=ON");
}

void require_single_process(const std::string& command) {
  const MpiSession* s = current_session();
  const int size = s ? s->size() : launch_from_environment().size;
  if (size > 1)
    throw SameOnEveryRank(fmt::format("started as {} MPI ranks, but 't5scale {}' runs in one process "
                                      "(data parallelism is 't5scale train')", size, command),
                          "run it without mpirun/srun, or with one task");
}

#ifdef T5SCALE_HAVE_MPI

namespace {

[[noreturn]] void mpi_failed(const char* call, int code, int rank, int size) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("{} failed on rank {} of {} ({}): {}", call, rank, size, this_host(), text),
              "a rank probably died or lost its network; rerun the same command with --resume to continue "
              "from the last checkpoint");
}

class MpiCollective final : public Collective {
 public:
  MpiCollective(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(float* values, int64_t count) override { reduce(values, count, MPI_FLOAT, sizeof(float)); }
  void sum(double* values, int64_t count) override { reduce(values, count, MPI_DOUBLE, sizeof(double)); }
  std::pair<uint64_t, uint64_t> min_max(uint64_t value) override {
    uint64_t lo = 0, hi = 0;
    check("MPI_Allreduce(MIN)", MPI_Allreduce(&value, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD));
    check("MPI_Allreduce(MAX)", MPI_Allreduce(&value, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
    return {lo, hi};
  }
  CollectiveStats stats() const override { return stats_; }

 private:
  void check(const char* call, int code) const {
    if (code != MPI_SUCCESS) mpi_failed(call, code, rank_, size_);
  }
  // MPI counts are int: a buffer past 2^31 elements goes in pieces.
  void reduce(void* values, int64_t count, MPI_Datatype type, size_t bytes) {
    const auto t0 = std::chrono::steady_clock::now();
    char* p = static_cast<char*>(values);
    for (int64_t done = 0; done < count;) {
      const int n = int(std::min<int64_t>(count - done, int64_t(1) << 30));
      check("MPI_Allreduce(SUM)", MPI_Allreduce(MPI_IN_PLACE, p + done * int64_t(bytes), n, type, MPI_SUM, MPI_COMM_WORLD));
      done += n;
    }
    stats_.calls += 1;
    stats_.bytes += count * int64_t(bytes);
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  int rank_, size_;
  CollectiveStats stats_;
};

}  // namespace

bool mpi_built() { return true; }

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string s(text, size_t(length));
  if (const size_t nl = s.find_first_of("\r\n"); nl != std::string::npos) s.erase(nl);
  return s;
}

MpiSession::MpiSession() {
  const Launch launch = launch_from_environment();
  if (launch.launched) {
    int provided = 0;
    // Only the main thread calls MPI (OpenMP threads compute between the calls).
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw Error("MPI_Init_thread failed", "start the job with mpirun, or run t5scale without it");
    initialized_ = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (size_ > 1) collective_ = std::make_unique<MpiCollective>(rank_, size_);
  }
  g_session = this;
}

MpiSession::~MpiSession() {
  g_session = nullptr;
  if (initialized_) MPI_Finalize();
}

std::vector<std::string> MpiSession::hostnames() {
  if (size_ == 1) return {this_host()};
  char mine[256] = {0};
  gethostname(mine, sizeof mine - 1);
  std::vector<char> all(size_t(size_) * sizeof mine);
  const int code = MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) mpi_failed("MPI_Allgather", code, rank_, size_);
  std::vector<std::string> hosts;
  for (int r = 0; r < size_; ++r) hosts.emplace_back(all.data() + size_t(r) * sizeof mine);
  return hosts;
}

void MpiSession::abort(int code) {
  if (initialized_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#else  // built without MPI

bool mpi_built() { return false; }
std::string mpi_library() { return "none (built without MPI)"; }

MpiSession::MpiSession() {
  const Launch launch = launch_from_environment();
  rank_ = launch.rank;
  refuse_without_mpi(launch);
  g_session = this;
}

MpiSession::~MpiSession() { g_session = nullptr; }

std::vector<std::string> MpiSession::hostnames() { return {this_host()}; }

void MpiSession::abort(int code) { std::exit(code); }

#endif

}  // namespace t5::cluster
