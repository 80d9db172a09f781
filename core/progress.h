// Progress of a run of counted steps (training steps, optimizer steps) on stderr, never on stdout
// (PROTOCOL.md: data on stdout, chatter on stderr). One implementation for `train` (core/trainer.cpp)
// and `step` (cli/cmd_step.cpp):
//   step k/N  [detail  ]S steps/s  R tok/s  ETA E
// rates over wall time since the first step of this process, ETA = the steps left at that rate. On a
// terminal the line is redrawn in place (at most 10 times a second); otherwise lines are printed only
// when `forced`, about 50 per run and at least `min_seconds` apart, the last step always, so a log
// file stays short.
#pragma once

#include <cstdint>
#include <string>

namespace t5 {

// Every duration the tool prints (progress ETAs, a sweep's per-variant times, ETA and dry-run
// estimates): "42s", "3m07s", "2h05m" (rounded to whole seconds; negative reads as 0; "?" when unknown).
std::string format_duration(double seconds);

class StepProgress {
 public:
  // Steps run from `start` (a resumed run's first step is start + 1) to `total`.
  // `unit` names what is counted ("step"; `generate` counts "example"s): "<unit> k/N ... <unit>s/s".
  StepProgress(bool forced, int64_t start, int64_t total, double min_seconds = 0, std::string unit = "step");
  // After step `step`: `elapsed` wall seconds and `tokens_done` tokens since this process's first
  // step; `detail` goes after the step count (e.g. "loss 2.1234  lr 0.01").
  void update(int64_t step, double elapsed, int64_t tokens_done, const std::string& detail);
  // A line of its own (an evaluation, a resume), shown whenever the progress line is.
  void message(const std::string& text);
  // Ends the redrawn line on a terminal.
  void finish();

 private:
  bool tty_, on_;
  int64_t start_, total_, every_;
  double min_seconds_, last_line_ = 0;
  std::string unit_;
};

}  // namespace t5
