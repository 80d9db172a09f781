// The SIGINT/SIGTERM flag and handler (core/interrupt.h). Only lock-free atomics, kill(), sigaction()
// and raise() run inside the handler: all are async-signal-safe (signal-safety(7)), and any thread
// (BLAS workers included) may be the one that runs it.
#include "core/interrupt.h"

#include <array>
#include <atomic>
#include <csignal>

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
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free &&
              std::atomic<size_t>::is_always_lock_free);

void restore_default(int sig) {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

void forward(int sig) {
  const size_t n = g_forward_count.load();
  for (size_t i = 0; i < n; ++i) ::kill(g_forward[i].load(), sig);
}

extern "C" void on_interrupt(int sig) {
  // The first signal, or a request passed on by our parent: stop at the next step, pass it on as a
  // request (workers in our process group got a Ctrl-C of their own; a request never escalates).
  if (g_signals.fetch_add(1) == 0 || sig == kForwardedSignal) {
    forward(kForwardedSignal);
    return;
  }
  // A second SIGINT/SIGTERM: no more waiting, for the workers neither; die by the signal as if
  // there were no handler.
  forward(sig);
  restore_default(SIGINT);
  restore_default(SIGTERM);
  ::raise(sig);
}

}  // namespace

Interrupted::Interrupted(int64_t step, bool saved)
    : std::runtime_error(fmt::format("interrupted at step {}", step)), step_(step), saved_(saved) {}

void install_interrupt_handler() {
  g_signals.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;   // reads and writes in flight complete; the flag is read between steps
  for (int sig : {SIGINT, SIGTERM, kForwardedSignal})
    T5_CHECK(::sigaction(sig, &sa, nullptr) == 0, "cannot install the handler of signal {}", sig);
}

bool interrupt_requested() { return g_signals.load() > 0; }

void request_interrupt() { g_signals.fetch_add(1); }

void clear_interrupt() { g_signals.store(0); }

void forward_interrupts_to(const std::vector<pid_t>& pids) {
  T5_CHECK(pids.size() <= kMaxForwarded, "at most {} worker processes, got {}", kMaxForwarded, pids.size());
  g_forward_count.store(0);   // the handler sees no half-written list
  for (size_t i = 0; i < pids.size(); ++i) g_forward[i].store(pids[i]);
  g_forward_count.store(pids.size());
}

}  // namespace t5
