// The trainer's data-parallel arithmetic (core/trainer.h TrainConfig::collective) without MPI: K
// forked processes, each a "rank" with its own Model, summing through shared memory. The batches
// carry a different number of label tokens in every row (labels dropped at seeded positions), so
// each rank's slice holds another share of the step's label tokens: only weighting every slice by
// its share of the *whole step's* label tokens gives the single-process gradient (a mean of per-rank
// means does not). K = 2 and 4 against one process, with grad accumulation and evaluation.
// tests/mpi_test.cpp runs the same through mpirun.
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include "core/collective.h"
#include "core/model.h"
#include "core/synthetic_data.h"
#include "core/trainer.h"

namespace t5 {
namespace {

const int kOneThread = [] {
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  return 1;
}();

// K ranks as forked processes (the model is one per process, as under mpirun) summing through shared
// memory: sum() gathers every rank's buffer and each rank adds them in rank order, so all end with the
// same bits (as MPI_Allreduce gives every rank the same result).
constexpr int kMaxRanks = 4;
constexpr int64_t kMaxFloats = 1 << 17;
constexpr int kMaxSteps = 64;

struct SharedMemory {
  pthread_barrier_t barrier;
  uint64_t values[kMaxRanks];
  double doubles[kMaxRanks][8];
  float floats[kMaxRanks][kMaxFloats];
  // rank 0's outcome, read back by the parent
  int64_t steps, evals, failed_ranks;
  double loss[kMaxSteps], grad_norm[kMaxSteps], eval_loss[kMaxSteps];
  int64_t label_tokens[kMaxSteps], eval_tokens[kMaxSteps];
  float params[kMaxFloats];
  float params_last_rank[kMaxFloats];
};

class ShmCollective final : public Collective {
 public:
  ShmCollective(SharedMemory* shm, int rank, int size) : shm_(shm), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(float* v, int64_t n) override { reduce(shm_->floats, v, n); }
  void sum(double* v, int64_t n) override { reduce(shm_->doubles, v, n); }
  std::pair<uint64_t, uint64_t> min_max(uint64_t value) override {
    shm_->values[rank_] = value;
    wait();
    uint64_t a = value, b = value;
    for (int r = 0; r < size_; ++r) a = std::min(a, shm_->values[r]), b = std::max(b, shm_->values[r]);
    wait();
    return {a, b};
  }
  CollectiveStats stats() const override { return {}; }

 private:
  template <typename T, size_t M>
  void reduce(T (*slots)[M], T* v, int64_t n) {
    if (n > int64_t(M)) std::abort();
    std::copy(v, v + n, slots[rank_]);
    wait();
    for (int64_t i = 0; i < n; ++i) {
      T s = 0;
      for (int r = 0; r < size_; ++r) s += slots[r][i];
      v[i] = s;
    }
    wait();
  }
  void wait() { pthread_barrier_wait(&shm_->barrier); }
  SharedMemory* shm_;
  int rank_, size_;
};

// The synthetic copy task with labels dropped (kIgnoreLabel) at positions chosen by a hash of the
// batch count and the position: every row carries its own number of label tokens.
class RaggedLabels final : public BatchSource {
 public:
  explicit RaggedLabels(std::unique_ptr<BatchSource> inner) : inner_(std::move(inner)) {}
  Batch next() override {
    Batch b = inner_->next();
    for (size_t i = 0; i < b.labels.size(); ++i) {
      uint64_t h = (uint64_t(served_) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(i) * 0xC2B2AE3D27D4EB4Full);
      h ^= h >> 29;
      h *= 0xBF58476D1CE4E5B9ull;
      h ^= h >> 32;
      const int64_t row = int64_t(i) / b.targets_length;
      if (h % 8 < uint64_t(row % 7)) b.labels[i] = kIgnoreLabel;   // rows lose 0 to ~6/8 of their labels
    }
    ++served_;
    return b;
  }
  nlohmann::json position() const override { return {{"inner", inner_->position()}, {"served", served_}}; }
  void seek(const nlohmann::json& p) override {
    inner_->seek(p["inner"]);
    served_ = p["served"].get<int64_t>();
  }
  std::string describe() const override { return "ragged " + inner_->describe(); }

 private:
  std::unique_ptr<BatchSource> inner_;
  int64_t served_ = 0;
};

Shape tiny_shape() {
  Shape s;
  s.name = "data-parallel-test";
  s.el = 2;
  s.dl = 2;
  s.dm = 32;
  s.ff = 64;
  s.kv = 8;
  s.nh = 2;
  s.vocab_size = 40;
  return s;
}

std::unique_ptr<BatchSource> source(int64_t micro_batch, uint64_t seed) {
  SyntheticConfig c;
  c.vocab_size = 40;
  c.length = 9;
  c.inputs_length = 10;
  c.targets_length = 10;
  return std::make_unique<RaggedLabels>(make_synthetic_source(c, micro_batch, seed));
}

struct Outcome {
  std::vector<double> loss, grad_norm, eval_loss;
  std::vector<int64_t> label_tokens, eval_tokens;
  std::vector<float> params;
};

TrainConfig config() {
  TrainConfig c;
  c.steps = 12;
  c.batch = 16;
  c.grad_accum = 2;
  c.optimizer.name = "adafactor";
  c.schedule.kind = ScheduleKind::constant;
  c.schedule.lr = 0.01;
  c.eval_every = 6;
  c.eval_batches = 2;
  c.seed = 11;
  return c;
}

// Trains with `ranks` forked processes (0 = this process, no collective) and returns rank 0's
// outcome; every rank must end on rank 0's bits.
Outcome train_ranks(int ranks) {
  auto* shm = static_cast<SharedMemory*>(
      mmap(nullptr, sizeof(SharedMemory), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  EXPECT_NE(shm, MAP_FAILED);
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_barrier_init(&shm->barrier, &attr, unsigned(std::max(ranks, 1)));
  shm->failed_ranks = 0;
  const auto run = [&](Collective* collective) {
    const TrainConfig c = config();
    Model model(tiny_shape());
    init_params(model, 5);
    auto train_data = source(c.batch / c.grad_accum, 7);
    auto eval_data = source(c.batch / c.grad_accum, 99);
    TrainConfig rc = c;
    rc.collective = collective;
    const TrainResult r = train(model, *train_data, eval_data.get(), rc);
    const int rank = collective ? collective->rank() : 0;
    if (model.num_params() > kMaxFloats) std::abort();
    if (collective && rank == collective->size() - 1)
      std::copy(model.params(), model.params() + model.num_params(), shm->params_last_rank);
    if (rank != 0) return;
    shm->steps = int64_t(r.steps.size());
    for (size_t s = 0; s < r.steps.size(); ++s) {
      shm->loss[s] = r.steps[s].loss;
      shm->grad_norm[s] = r.steps[s].grad_norm;
      shm->label_tokens[s] = r.steps[s].label_tokens;
    }
    shm->evals = int64_t(r.evals.size());
    for (size_t e = 0; e < r.evals.size(); ++e) {
      shm->eval_loss[e] = r.evals[e].loss;
      shm->eval_tokens[e] = r.evals[e].tokens;
    }
    std::copy(model.params(), model.params() + model.num_params(), shm->params);
  };
  const int64_t n = Model(tiny_shape()).num_params();
  if (ranks == 0) {
    run(nullptr);
  } else {
    std::vector<pid_t> children;
    for (int r = 0; r < ranks; ++r) {
      const pid_t pid = fork();
      if (pid == 0) {
        int code = 0;
        try {
          ShmCollective collective(shm, r, ranks);
          run(&collective);
        } catch (...) {
          code = 1;
        }
        _exit(code);
      }
      children.push_back(pid);
    }
    for (pid_t pid : children) {
      int status = 0;
      waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a rank failed";
    }
  }
  Outcome out;
  out.loss.assign(shm->loss, shm->loss + shm->steps);
  out.grad_norm.assign(shm->grad_norm, shm->grad_norm + shm->steps);
  out.label_tokens.assign(shm->label_tokens, shm->label_tokens + shm->steps);
  out.eval_loss.assign(shm->eval_loss, shm->eval_loss + shm->evals);
  out.eval_tokens.assign(shm->eval_tokens, shm->eval_tokens + shm->evals);
  out.params.assign(shm->params, shm->params + n);
  if (ranks > 0) EXPECT_EQ(std::vector<float>(shm->params_last_rank, shm->params_last_rank + n), out.params);
  pthread_barrier_destroy(&shm->barrier);
  munmap(shm, sizeof(SharedMemory));
  return out;
}

double max_relative(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(a[i])));
  }
  return diff / scale;
}

TEST(DataParallel, RanksOfUnequalLabelSharesEqualOneProcess) {
  // The forks first: this process has run no OpenMP region yet when they start.
  const Outcome two = train_ranks(2), four = train_ranks(4);
  const Outcome one = train_ranks(0);
  ASSERT_EQ(one.loss.size(), 12u);
  // The fixture does what it is for: the halves of a micro-batch carry different label counts.
  {
    auto probe = source(8, 7);
    const Batch b = probe->next();
    EXPECT_NE(batch_rows(b, 0, 4).label_tokens(), batch_rows(b, 4, 4).label_tokens());
  }
  for (const Outcome* k : {&two, &four}) {
    SCOPED_TRACE(k == &two ? "2 ranks" : "4 ranks");
    ASSERT_EQ(k->loss.size(), one.loss.size());
    EXPECT_EQ(k->label_tokens, one.label_tokens);
    for (size_t s = 0; s < one.loss.size(); ++s) {
      EXPECT_NEAR(k->loss[s], one.loss[s], 1e-5 * one.loss[s]) << "step " << s + 1;
      EXPECT_NEAR(k->grad_norm[s], one.grad_norm[s], 1e-5 * one.grad_norm[s]) << "step " << s + 1;
    }
    ASSERT_EQ(k->eval_loss.size(), 2u);
    EXPECT_EQ(k->eval_tokens, one.eval_tokens);
    for (size_t e = 0; e < one.eval_loss.size(); ++e) EXPECT_NEAR(k->eval_loss[e], one.eval_loss[e], 1e-5 * one.eval_loss[e]);
    EXPECT_LT(max_relative(one.params, k->params), 1e-5);
  }
}

}  // namespace
}  // namespace t5
