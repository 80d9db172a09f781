// The file-lock scheduler (see schedule.h).
#include "sweeps/schedule.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
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

class LockClaim : public Claim {
 public:
  LockClaim(Variant v, int fd) : variant_(std::move(v)), fd_(fd) {}
  ~LockClaim() override {
    if (fd_ >= 0) ::close(fd_);   // closing the descriptor drops the flock
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
    for (const auto& v : variants_) {
      if (has_record(read_records(layout_.runs()), v.id)) continue;
      const int fd = try_lock_variant(layout_, v.id);
      if (fd < 0) continue;   // another worker runs it
      // Someone may have finished it between our read and the lock: look again under the lock.
      if (has_record(read_records(layout_.runs()), v.id)) {
        ::close(fd);
        continue;
      }
      return std::make_unique<LockClaim>(v, fd);
    }
    return nullptr;
  }

  void publish(std::unique_ptr<Claim> claim, const nlohmann::json& record) override {
    T5_CHECK(claim != nullptr, "publish without a claim");
    T5_CHECK(record.value("id", "") == claim->variant().id, "record id {} does not match the claimed variant {}",
             record.value("id", ""), claim->variant().id);
    append_record(layout_.runs(), record);
    claim.reset();   // the record is durable before the lock is dropped
  }

  void release(std::unique_ptr<Claim> claim) override { claim.reset(); }

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

std::vector<nlohmann::json> release_for_retry(const ResultsLayout& layout, const std::vector<Variant>& variants,
                                              const std::vector<std::string>& statuses) {
  std::filesystem::create_directories(layout.dir + "/locks");
  // Variant id -> descriptor holding its lock (-1: another worker's); held until the rewrite is
  // done, so no worker claims a variant while its record moves.
  struct HeldLocks {
    std::map<std::string, int> fds;
    ~HeldLocks() {
      for (const auto& [id, fd] : fds)
        if (fd >= 0) ::close(fd);
    }
  } held;
  return move_records(layout.runs(), layout.retried(), [&](const nlohmann::json& r) {
    const auto text = [&](const char* key) { return r.contains(key) && r[key].is_string() ? r[key].get<std::string>() : ""; };
    const std::string id = text("id"), status = text("status");
    const bool wanted = std::find(statuses.begin(), statuses.end(), status) != statuses.end() &&
                        std::any_of(variants.begin(), variants.end(), [&](const Variant& v) { return v.id == id; });
    if (!wanted) return false;
    if (!held.fds.count(id)) held.fds[id] = try_lock_variant(layout, id);
    return held.fds[id] >= 0;
  });
}

std::unique_ptr<Scheduler> make_file_lock_scheduler(const ResultsLayout& layout, std::vector<Variant> variants) {
  return std::make_unique<FileLockScheduler>(layout, std::move(variants));
}

}  // namespace t5
