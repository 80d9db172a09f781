// core/interrupt.h in a forked child (the signals and the watcher are per process): the first SIGINT
// only raises the flag and the process goes on; the second kills it by SIGINT at once; a forwarded
// request (SIGUSR1) never escalates, however many arrive.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <gtest/gtest.h>

#include "core/interrupt.h"

namespace t5 {
namespace {

// Waits up to 2 s for the flag.
bool flag_within_2s() {
  for (int i = 0; i < 200 && !interrupt_requested(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return interrupt_requested();
}

// Runs `body` in a child process; returns its wait status.
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

TEST(Interrupt, FirstSignalRaisesTheFlagSecondKills) {
  const int status = in_child([] {
    watch_for_interrupts();
    if (interrupt_requested()) ::_exit(2);
    ::kill(::getpid(), SIGINT);
    if (!flag_within_2s()) ::_exit(3);   // the first one must not kill, and must be seen
    ::kill(::getpid(), SIGINT);
    std::this_thread::sleep_for(std::chrono::seconds(5));
    ::_exit(4);   // still alive: the second one did not kill
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

TEST(Interrupt, ForwardedRequestsNeverEscalate) {
  const int status = in_child([] {
    watch_for_interrupts();
    for (int i = 0; i < 3; ++i) ::kill(::getpid(), SIGUSR1);
    if (!flag_within_2s()) ::_exit(3);
    ::kill(::getpid(), SIGTERM);   // a Ctrl-C of its own after the request: now it is the second
    std::this_thread::sleep_for(std::chrono::seconds(5));
    ::_exit(4);
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  // Only requests: the process lives on and exits normally.
  const int calm = in_child([] {
    watch_for_interrupts();
    for (int i = 0; i < 3; ++i) {
      ::kill(::getpid(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!flag_within_2s()) ::_exit(3);
  });
  ASSERT_TRUE(WIFEXITED(calm));
  EXPECT_EQ(WEXITSTATUS(calm), 0);
}

TEST(Interrupt, RequestAndClear) {
  clear_interrupt();
  EXPECT_FALSE(interrupt_requested());
  request_interrupt();
  EXPECT_TRUE(interrupt_requested());
  clear_interrupt();
  EXPECT_FALSE(interrupt_requested());
}

}  // namespace
}  // namespace t5
