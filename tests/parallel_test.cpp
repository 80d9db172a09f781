// core/parallel.h: an exception thrown inside an OpenMP parallel loop reaches the caller after the
// region as itself (type and message), the first one only, and the iterations after it are skipped;
// without the helper the runtime would call std::terminate.
#include <atomic>
#include <new>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/parallel.h"

namespace t5 {
namespace {

TEST(FirstException, ReachesTheCallerAfterTheRegion) {
  FirstException errors;
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2) schedule(static)
  for (int i = 0; i < 100; ++i) errors.run([&] {
    ++ran;
    if (i == 7 || i == 60) throw Error(fmt::format("item {} failed", i), "a hint");
  });
  ASSERT_TRUE(errors.failed());
  try {
    errors.rethrow();
    FAIL() << "rethrow() did not throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.message(), ::testing::AnyOf("item 7 failed", "item 60 failed"));
    EXPECT_EQ(e.hint(), "a hint");
  }
  // Static schedule, two threads: items 0-49 and 50-99; each thread stops at its failure (7, 60) or at
  // the other's, so at most 8 + 11 bodies ran (one thread: 8).
  EXPECT_LE(ran.load(), 19);
  EXPECT_GE(ran.load(), 8);
}

TEST(FirstException, KeepsTheTypeOfAnyException) {
  FirstException errors;
#pragma omp parallel for num_threads(2) schedule(dynamic, 1)
  for (int i = 0; i < 16; ++i) errors.run([&] {
    if (i % 2 == 1) throw std::bad_alloc();
  });
  EXPECT_THROW(errors.rethrow(), std::bad_alloc);
}

TEST(FirstException, NothingThrownWhenNothingFailed) {
  FirstException errors;
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 64; ++i) errors.run([&] { ++ran; });
  EXPECT_FALSE(errors.failed());
  EXPECT_NO_THROW(errors.rethrow());
  EXPECT_EQ(ran.load(), 64);
}

}  // namespace
}  // namespace t5
