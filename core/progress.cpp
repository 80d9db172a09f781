// The stderr progress line (see progress.h).
#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

namespace t5 {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  const int64_t s = int64_t(std::max(0.0, seconds) + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

namespace {

// Redraws on a terminal at most this often: fast steps (thousands per second) would spend their
// time writing to it.
constexpr double kRedrawSeconds = 0.1;

// A rate with three significant digits and no exponent above 100 ("1770", "52.3", "0.125").
std::string rate_text(double rate) { return rate >= 100 ? fmt::format("{:.0f}", rate) : fmt::format("{:.3g}", rate); }

}  // namespace

StepProgress::StepProgress(bool forced, int64_t start, int64_t total, double min_seconds, std::string unit)
    : tty_(isatty(STDERR_FILENO) != 0), on_(tty_ || forced), start_(start), total_(total),
      every_(tty_ ? 1 : std::max<int64_t>(1, (total - start) / 50)), min_seconds_(tty_ ? kRedrawSeconds : min_seconds),
      unit_(std::move(unit)) {}

void StepProgress::update(int64_t step, double elapsed, int64_t tokens_done, const std::string& detail) {
  if (!on_) return;
  const bool last = step == total_;
  if (!last && (step % every_ != 0 || elapsed - last_line_ < min_seconds_)) return;
  last_line_ = elapsed;
  const double steps = double(step - start_);
  const double steps_per_second = elapsed > 0 ? steps / elapsed : 0.0;
  const double tokens_per_second = elapsed > 0 ? double(tokens_done) / elapsed : 0.0;
  const double eta = steps > 0 ? elapsed / steps * double(total_ - step) : 0.0;
  std::fprintf(stderr, "%s%s", tty_ ? "\r\033[K" : "",
               fmt::format("{} {}/{}  {}{} {}s/s  {:.0f} tok/s  ETA {}{}", unit_, step, total_,
                           detail.empty() ? "" : detail + "  ", rate_text(steps_per_second), unit_, tokens_per_second,
                           format_duration(eta), tty_ ? "" : "\n")
                   .c_str());
  std::fflush(stderr);
}

void StepProgress::message(const std::string& text) {
  if (!on_) return;
  std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", text.c_str());
}

void StepProgress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace t5
