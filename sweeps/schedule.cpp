// The file-lock scheduler (see schedule.h).
#include "sweeps/schedule.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "results/context.h"
#include "results/records.h"

namespace t5 {

namespace {

// flock(LOCK_EX|LOCK_NB) on the variant's lock file: the descriptor holding it, or -1 when another
// worker holds it.
int try_lock_variant(const ResultsLayout& layout, const std::string& id) {
  const std::string path = layout.lock(id);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  T5_CHECK(fd >= 0, "{}: cannot open lock file: {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
  ::close(fd);
  return -1;
}

// How long a worker that found variants locked and nothing else to claim waits before it looks at
// those once more (a status probe holds a lock for microseconds; a worker holds it for a variant).
constexpr auto kBusyRecheckDelay = std::chrono::milliseconds(50);

// Replaces the content of the lock file `fd` (held by this process) with `text`; best effort: the
// claimant is information for `status`, the lock itself is the claim.
void write_claimant(int fd, const std::string& text) {
  if (::ftruncate(fd, 0) != 0) return;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, off_t(done));
    if (n <= 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

class LockClaim : public Claim {
 public:
  LockClaim(Variant v, int fd) : variant_(std::move(v)), fd_(fd) { write_claimant(fd_, claimant_context().dump() + "\n"); }
  ~LockClaim() override {
    if (fd_ < 0) return;
    write_claimant(fd_, "");   // nobody's, before the lock goes (a killed worker leaves its name: stale, unlocked)
    ::close(fd_);              // closing the descriptor drops the flock
  }
  const Variant& variant() const override { return variant_; }

 private:
  Variant variant_;
  int fd_;
};

class FileLockScheduler : public Scheduler {
 public:
  FileLockScheduler(ResultsLayout layout, std::vector<Variant> variants)
      : layout_(std::move(layout)), variants_(std::move(variants)) {
    std::filesystem::create_directories(layout_.dir + "/locks");
  }

  std::unique_ptr<Claim> claim() override {
    std::vector<const Variant*> busy;
    if (auto claim = claim_first(all(), busy)) return claim;
    if (busy.empty()) return nullptr;
    // Locked by another worker, or only probed by `status` at that instant: look once more.
    std::this_thread::sleep_for(kBusyRecheckDelay);
    std::vector<const Variant*> still_busy;
    return claim_first(busy, still_busy);
  }

  void publish(std::unique_ptr<Claim> claim, const nlohmann::json& record) override {
    T5_CHECK(claim != nullptr, "publish without a claim");
    T5_CHECK(record.value("id", "") == claim->variant().id, "record id {} does not match the claimed variant {}",
             record.value("id", ""), claim->variant().id);
    append_record(layout_.runs(), record);
    claim.reset();   // the record is durable before the lock is dropped
  }

  void release(std::unique_ptr<Claim> claim) override { claim.reset(); }

  std::vector<const Variant*> all() const {
    std::vector<const Variant*> out;
    for (const auto& v : variants_) out.push_back(&v);
    return out;
  }

  // The first of `candidates` without a record whose lock this process gets; the ones found locked
  // are added to `busy`.
  std::unique_ptr<Claim> claim_first(const std::vector<const Variant*>& candidates, std::vector<const Variant*>& busy) {
    for (const Variant* v : candidates) {
      if (has_record(read_records(layout_.runs()), v->id)) continue;
      const int fd = try_lock_variant(layout_, v->id);
      if (fd < 0) {   // another worker runs it
        busy.push_back(v);
        continue;
      }
      // Someone may have finished it between our read and the lock: look again under the lock.
      if (has_record(read_records(layout_.runs()), v->id)) {
        ::close(fd);
        continue;
      }
      return std::make_unique<LockClaim>(*v, fd);
    }
    return nullptr;
  }

  std::vector<std::string> finished() const override {
    const RecordFile file = read_records(layout_.runs());
    std::vector<std::string> ids;
    for (const auto& v : variants_)
      if (has_record(file, v.id)) ids.push_back(v.id);
    return ids;
  }

 private:
  ResultsLayout layout_;
  std::vector<Variant> variants_;
};

}  // namespace

namespace {

// Variant id -> descriptor holding its lock (-1: another worker's), taken while records move and
// held until the rewrite is done, so no worker claims a variant while its record moves.
struct HeldLocks {
  const ResultsLayout& layout;
  std::map<std::string, int> fds;
  ~HeldLocks() {
    for (const auto& [id, fd] : fds)
      if (fd >= 0) ::close(fd);
  }
  bool take(const std::string& id) {
    if (!fds.count(id)) fds[id] = try_lock_variant(layout, id);
    return fds[id] >= 0;
  }
};

}  // namespace

size_t restore_retried(const ResultsLayout& layout, const std::vector<nlohmann::json>& records) {
  std::filesystem::create_directories(layout.dir + "/locks");
  HeldLocks held{layout, {}};
  std::vector<nlohmann::json> wanted = records;   // each record once, even if history holds a twin
  return move_records(layout.retried(), layout.runs(), [&](const nlohmann::json& r) {
    const auto it = std::find(wanted.begin(), wanted.end(), r);
    if (it == wanted.end() || !r.contains("id") || !r["id"].is_string() || !held.take(r["id"].get<std::string>()))
      return false;
    wanted.erase(it);
    return true;
  }).size();
}

std::vector<nlohmann::json> release_for_retry(const ResultsLayout& layout, const std::vector<Variant>& variants,
                                              const std::vector<std::string>& statuses) {
  std::filesystem::create_directories(layout.dir + "/locks");
  HeldLocks held{layout, {}};
  return move_records(layout.runs(), layout.retried(), [&](const nlohmann::json& r) {
    const auto text = [&](const char* key) { return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : ""; };
    const std::string id = text("id"), status = text("status");
    const bool wanted = std::find(statuses.begin(), statuses.end(), status) != statuses.end() &&
                        std::any_of(variants.begin(), variants.end(), [&](const Variant& v) { return v.id == id; });
    return wanted && held.take(id);
  });
}

nlohmann::json claimant_context() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json c = {{"host", host}, {"pid", ::getpid()}, {"since", since}};
  if (nlohmann::json slurm = slurm_context(); !slurm.empty()) c["slurm"] = std::move(slurm);
  return c;
}

std::optional<nlohmann::json> variant_claimant(const ResultsLayout& layout, const std::string& id) {
  const std::string path = layout.lock(id);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;   // never claimed
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  if (!held) ::flock(fd, LOCK_UN);
  std::string text;
  if (held) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::pread(fd, buffer, sizeof buffer, off_t(text.size()))) > 0) text.append(buffer, size_t(n));
  }
  ::close(fd);
  if (!held) return std::nullopt;
  nlohmann::json c = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return c.is_object() ? c : nlohmann::json::object();   // a holder of an older version writes nothing
}

std::unique_ptr<Scheduler> make_file_lock_scheduler(const ResultsLayout& layout, std::vector<Variant> variants) {
  return std::make_unique<FileLockScheduler>(layout, std::move(variants));
}

}  // namespace t5
