// The SIGINT/SIGTERM flag (core/interrupt.h). No signal handler runs on a computing thread: oneDNN's
// JIT kernels crashed (SIGSEGV, heap corruption) in about one Ctrl-C of six when a handler's frame was
// pushed on their stack mid-kernel (tiny-dm64, SIGINT at step 2), so the signals are blocked in the
// installing thread, and thereby in every thread it starts later (OpenMP, oneDNN, OpenBLAS), and one
// watcher thread takes them with sigwait() and raises the flag.
#include "core/interrupt.h"

#include <cstdlib>

#include <array>
#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include <pthread.h>

#include <fmt/format.h>

#include "core/error.h"

namespace t5 {

namespace {

constexpr size_t kMaxForwarded = 1024;
// How a caught interrupt reaches the workers: a signal of its own, so that a worker which also got
// the Ctrl-C itself (one process group) does not count the forwarded copy as a second Ctrl-C.
constexpr int kForwardedSignal = SIGUSR1;

std::atomic<int> g_signals{0};                  // signals caught since install (or request/clear)
std::array<std::atomic<pid_t>, kMaxForwarded> g_forward{};
std::atomic<size_t> g_forward_count{0};

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, kForwardedSignal}) sigaddset(&set, sig);
  return set;
}

void forward(int sig) {
  const size_t n = g_forward_count.load();
  for (size_t i = 0; i < n; ++i) ::kill(g_forward[i].load(), sig);
}

// Dies by `sig` as if it had never been caught: default action, then delivered to this thread.
[[noreturn]] void die_by(int sig) {
  std::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  ::raise(sig);   // pending on this thread while blocked here
  ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  std::abort();   // not reached
}

void watch() {
  const sigset_t set = interrupt_signals();
  for (;;) {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) continue;
    // The first signal, or a request passed on by our parent: stop at the next step, pass it on as
    // a request (workers in our process group got a Ctrl-C of their own; a request never escalates).
    if (g_signals.fetch_add(1) == 0 || sig == kForwardedSignal) {
      forward(kForwardedSignal);
      continue;
    }
    // A second SIGINT/SIGTERM: no more waiting, for the workers neither.
    forward(sig);
    die_by(sig);
  }
}

}  // namespace

Interrupted::Interrupted(int64_t step, bool saved)
    : std::runtime_error(fmt::format("interrupted at step {}", step)), step_(step), saved_(saved) {}

void watch_for_interrupts() {
  g_signals.store(0);
  static std::once_flag once;
  std::call_once(once, [] {
    const sigset_t set = interrupt_signals();
    T5_CHECK(::pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0, "cannot block the interrupt signals");
    std::thread(watch).detach();
  });
}

bool interrupt_requested() { return g_signals.load() > 0; }

void request_interrupt() { g_signals.fetch_add(1); }

void clear_interrupt() { g_signals.store(0); }

void forward_interrupts_to(const std::vector<pid_t>& pids) {
  T5_CHECK(pids.size() <= kMaxForwarded, "at most {} worker processes, got {}", kMaxForwarded, pids.size());
  g_forward_count.store(0);   // the watcher sees no half-written list
  for (size_t i = 0; i < pids.size(); ++i) g_forward[i].store(pids[i]);
  g_forward_count.store(pids.size());
  // A signal caught while they were starting reached nobody; a request twice is harmless.
  if (interrupt_requested()) forward(kForwardedSignal);
}

void crash_point(const std::string& label, int64_t step) {
  static const char* spec = std::getenv("T5SCALE_TEST_KILL_AT");
  if (spec == nullptr) return;
  if (std::string(spec) == label + ":" + std::to_string(step)) std::raise(SIGKILL);
}

}  // namespace t5
