// Graceful interruption of long runs (train, sweep): the first SIGINT or SIGTERM only raises a flag
// that the training loop reads after each completed optimizer step (core/trainer.h saves a checkpoint
// at that step and throws Interrupted), so Ctrl-C loses no finished step. The signals are taken by a
// watcher thread (sigwait), never by a handler on a computing thread; a second SIGINT/SIGTERM
// restores the default action and re-raises it, so a second Ctrl-C kills at once. A process that
// started workers of its own (sweep --jobs) registers their pids: the first signal it catches reaches
// them as SIGUSR1 (a request that never escalates, so a worker that got the terminal's Ctrl-C as well
// still stops gracefully), a second one as itself (they die at once too).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

namespace t5 {

// Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread and every thread it starts afterwards, and
// starts the watcher thread (once); clears any earlier request. Call it early, before the process
// starts compute threads (the OpenMP pool): a thread started earlier could still take the signal.
// Processes started afterwards inherit the blocked signals (sweep workers install the same).
void watch_for_interrupts();

// True once a SIGINT/SIGTERM arrived (or request_interrupt() was called).
bool interrupt_requested();

// Raises the flag as a signal does (tests, and code that wants to stop the loop the same way).
void request_interrupt();
void clear_interrupt();

// Processes the watcher passes each caught signal on to (replaces the earlier list; at most 1024);
// when an interrupt is already requested, they are sent the request now.
void forward_interrupts_to(const std::vector<pid_t>& pids);

// Thrown by train() when it stopped at a step boundary because of an interrupt request. Not a
// failure: the checkpoint (when the run has a checkpoint directory) holds step(), and rerunning
// resumes there.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int64_t step, bool saved);
  int64_t step() const { return step_; }           // optimizer steps completed (and saved, if saved())
  bool saved() const { return saved_; }            // false: the run had no checkpoint directory

 private:
  int64_t step_;
  bool saved_;
};

// Crash injection for the resume tests: T5SCALE_TEST_KILL_AT="<label>:<step>" makes the process
// SIGKILL itself when crash_point(label, step) is reached, as a power cut or `kill -9` would (a sweep
// variant passes its id after each logged step, and 0 as it starts; finetune its task run's label).
// Does nothing when the variable is unset (normal use).
void crash_point(const std::string& label, int64_t step);

// Exit code of a command stopped by an interrupt (the shell's 128 + SIGINT).
constexpr int kInterruptedExitCode = 130;

}  // namespace t5
