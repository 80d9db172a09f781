// Exceptions and OpenMP: an exception that leaves an OpenMP structured block (a parallel region or a
// worksharing loop's body) calls std::terminate ("terminate called recursively" when two threads
// throw), so no error of the body would ever reach the command's boundary (core/error.h). Every
// parallel loop whose body can throw (oneDNN, allocation, T5_CHECK, the tokenizer) runs the body
// through one FirstException: it keeps the first exception thrown by any thread, skips the remaining
// iterations' bodies once one failed, and rethrows that exception after the region, in the caller.
//
//   FirstException errors;
//   #pragma omp parallel for
//   for (int64_t i = 0; i < n; ++i) errors.run([&] { body(i); });
//   errors.rethrow();
//
// OpenMP 5.1 §2.1 ("a throw executed inside a region must cause execution to resume within the same
// region, and the same thread that threw the exception must catch it").
#pragma once

#include <atomic>
#include <exception>
#include <mutex>

namespace t5 {

class FirstException {
 public:
  // Runs `body` unless an earlier one failed; an exception it throws is kept (the first one only).
  template <class Body>
  void run(Body&& body) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      body();
    } catch (...) {
      keep(std::current_exception());
    }
  }

  bool failed() const { return failed_.load(std::memory_order_acquire); }

  // After the region: throws the kept exception, if any (outside any parallel region of ours).
  void rethrow() const {
    if (failed()) std::rethrow_exception(first_);
  }

 private:
  void keep(std::exception_ptr e) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (failed_.load(std::memory_order_relaxed)) return;
    first_ = std::move(e);
    failed_.store(true, std::memory_order_release);
  }

  std::mutex mutex_;
  std::exception_ptr first_;
  std::atomic<bool> failed_{false};
};

}  // namespace t5
