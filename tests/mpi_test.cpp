// Data parallelism with MPI (issue 15), for real: `mpirun -np 2 t5scale train` against one process at
// the same global batch on the fixture corpus (span corruption: rows carry different label-token
// counts, so the share weighting of every slice is exercised), 50 steps with grad accumulation and
// evaluations: the losses, the evaluations and the final weights agree to 1e-5 relative. A kill -9 of
// one rank ends the job (mpirun names the rank; no hang) and the rerun resumes from rank 0's
// checkpoint to the very weights of an uninterrupted 2-rank run. Bad input is one line.
// CI runs as root with 2 cores: --allow-run-as-root --oversubscribe --bind-to none, one thread a rank.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/mpi.h"
#include "core/safetensors.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::last_logged_step;
using testing::lines;
using testing::slurp;

const std::string kFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data";

bool have_mpirun() { return cluster::mpi_built() && std::string(T5SCALE_MPIRUN).size() > 0; }

// `mpirun -np K` as CI can run it (root, 2 cores). `quiet` (-q) drops mpirun's own banners, so what
// remains on stderr is ours.
std::string mpirun(int ranks, bool quiet = false) {
  return fmt::format("OMP_NUM_THREADS=1 timeout 120 {} {}--allow-run-as-root --oversubscribe --bind-to none -np {} {}",
                     T5SCALE_MPIRUN, quiet ? "-q " : "", ranks, T5SCALE_BINARY);
}

struct Outcome {
  int exit_code = -1;
  std::string err;
};

Outcome shell(const std::string& command, const fs::path& dir) {
  const std::string cmd = fmt::format("cd {} && {} > out.txt 2> err.txt", dir.string(), command);
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / "err.txt")};
}

// A 2+2-layer model of 64.5k parameters over the fixture corpus's 1000-piece tokenizer.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale-mpi-{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "shape.json") << R"({"el": 2, "dl": 2, "dm": 32, "ff": 64, "kv": 8, "nh": 2, "vocab_size": 1104})";
  return dir;
}

std::string train_args(int64_t steps, const std::string& run) {
  return fmt::format(
      "train --model shape.json --data {} --batch 8 --grad-accum 2 --inputs-length 32 --steps {} --lr 0.01 "
      "--eval-every 25 --eval-batches 2 --checkpoint-every 5 --threads 1 --checkpoint-dir {} --json-out {}.jsonl",
      kFixture, steps, run, run);
}

std::vector<nlohmann::json> records(const fs::path& path, const std::string& type) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (auto j = nlohmann::json::parse(line); j["type"] == type) out.push_back(j);
  return out;
}

double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(a), 1e-30); }

// Largest |a - b| / max|a| over the tensors of two checkpoints' model.safetensors (0 = bit-equal).
double weights_difference(const fs::path& a, const fs::path& b) {
  const std::vector<Tensor> ta = read_safetensors((a / "model.safetensors").string());
  const std::vector<Tensor> tb = read_safetensors((b / "model.safetensors").string());
  EXPECT_EQ(ta.size(), tb.size());
  double worst = 0;
  for (size_t i = 0; i < ta.size() && i < tb.size(); ++i) {
    EXPECT_EQ(ta[i].name, tb[i].name);
    double diff = 0, scale = 0;
    for (size_t k = 0; k < ta[i].data.size(); ++k) {
      diff = std::max(diff, double(std::abs(ta[i].data[k] - tb[i].data[k])));
      scale = std::max(scale, double(std::abs(ta[i].data[k])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

TEST(Mpi, TwoRanksEqualOneProcessAtTheSameGlobalBatch) {
  if (!have_mpirun()) GTEST_SKIP() << "built without MPI (T5SCALE_MPI=OFF)";
  const fs::path dir = scratch("parity");
  const Outcome one = shell(fmt::format("OMP_NUM_THREADS=1 {} {}", T5SCALE_BINARY, train_args(50, "k1")), dir);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const Outcome two = shell(fmt::format("{} {}", mpirun(2), train_args(50, "k2")), dir);
  ASSERT_EQ(two.exit_code, 0) << two.err;

  const auto s1 = records(dir / "k1.jsonl", "step"), s2 = records(dir / "k2.jsonl", "step");
  ASSERT_EQ(s1.size(), 50u);
  ASSERT_EQ(s2.size(), 50u);   // rank 0 alone wrote the log: each step once
  double worst = 0;
  for (size_t i = 0; i < s1.size(); ++i) {
    EXPECT_EQ(s1[i]["label_tokens"], s2[i]["label_tokens"]) << "step " << i + 1;   // the same global batches
    worst = std::max(worst, relative(s1[i]["loss"].get<double>(), s2[i]["loss"].get<double>()));
    EXPECT_LT(relative(s1[i]["grad_norm"].get<double>(), s2[i]["grad_norm"].get<double>()), 1e-5) << "step " << i + 1;
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(s1.front()["loss"].get<double>() - s1.back()["loss"].get<double>(), 0.5);   // it learned something
  const auto e1 = records(dir / "k1.jsonl", "eval"), e2 = records(dir / "k2.jsonl", "eval");
  ASSERT_EQ(e1.size(), 2u);
  ASSERT_EQ(e2.size(), 2u);
  for (size_t i = 0; i < e1.size(); ++i) {
    EXPECT_EQ(e1[i]["tokens"], e2[i]["tokens"]);   // each rank evaluated its share, together all
    EXPECT_LT(relative(e1[i]["loss"].get<double>(), e2[i]["loss"].get<double>()), 1e-5);
  }
  EXPECT_LT(weights_difference(dir / "k1", dir / "k2"), 1e-5);
  EXPECT_GT(weights_difference(dir / "k1", dir / "k2"), 0.0);   // really two summation orders, not one process

  // The summary says where it ran; the checkpoint holds the whole job's data position.
  const nlohmann::json summary = records(dir / "k2.jsonl", "summary").at(0);
  EXPECT_EQ(summary["ranks"], 2);
  EXPECT_EQ(summary["threads_per_rank"], 1);
  EXPECT_EQ(summary["hosts"].size(), 2u);
  EXPECT_EQ(summary["allreduce_bytes_per_step"].get<double>() >= 4.0 * 64512, true);
  EXPECT_EQ(records(dir / "k1.jsonl", "summary").at(0)["ranks"], 1);
  const auto state = [&](const char* run) { return nlohmann::json::parse(slurp(dir / run / "state.json")); };
  EXPECT_EQ(state("k1")["data_position"], state("k2")["data_position"]);
  fs::remove_all(dir);
}

// The pid of the rank `rank` process of a job whose command line names `marker`.
pid_t find_rank(const std::string& marker, int rank) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = slurp(entry.path() / "cmdline"), env = slurp(entry.path() / "environ");
    if (cmdline.find(marker) == std::string::npos || cmdline.find("t5scale") == std::string::npos) continue;
    if (env.find(fmt::format("OMPI_COMM_WORLD_RANK={}", rank) + '\0') != std::string::npos) return pid_t(std::stoi(name));
  }
  return -1;
}

TEST(Mpi, KilledRankEndsTheJobAndTheRerunResumesToTheSameWeights) {
  if (!have_mpirun()) GTEST_SKIP() << "built without MPI (T5SCALE_MPI=OFF)";
  const fs::path dir = scratch("kill");
  // The reference: 2 ranks, uninterrupted.
  const Outcome whole = shell(fmt::format("{} {}", mpirun(2), train_args(40, "whole")), dir);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  // The same job, rank 1 killed with SIGKILL once a checkpoint exists and before the end.
  auto job = std::async(std::launch::async, [&] { return shell(fmt::format("{} {}", mpirun(2), train_args(40, "cut")), dir); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pid_t victim = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    if (last_logged_step((dir / "cut.jsonl").string()) >= 12 && (victim = find_rank("cut.jsonl", 1)) > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(victim, 0) << "rank 1 never started";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const Outcome cut = job.get();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20)) << "the job hung after a rank died";
  EXPECT_NE(cut.exit_code, 0);
  EXPECT_NE(cut.exit_code, 124) << "ended by the test's timeout, not by mpirun: " << cut.err;
  EXPECT_THAT(cut.err, HasSubstr("process rank 1")) << cut.err;
  EXPECT_THAT(cut.err, HasSubstr("exited on signal 9")) << cut.err;
  const int64_t saved = nlohmann::json::parse(slurp(dir / "cut" / "state.json"))["step"].get<int64_t>();
  EXPECT_GE(saved, 10);
  EXPECT_LT(saved, 40);

  // The rerun continues from rank 0's checkpoint, bit for bit the uninterrupted job.
  const Outcome rerun = shell(fmt::format("{} {} --resume", mpirun(2), train_args(40, "cut")), dir);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(records(dir / "cut.jsonl", "summary").at(0)["resumed_from"], saved);
  EXPECT_EQ(weights_difference(dir / "whole", dir / "cut"), 0.0);
  const auto a = records(dir / "whole.jsonl", "step"), b = records(dir / "cut.jsonl", "step");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "step " << i + 1;
  fs::remove_all(dir);
}

TEST(Mpi, BadInputUnderMpirunIsOneLine) {
  if (!have_mpirun()) GTEST_SKIP() << "built without MPI (T5SCALE_MPI=OFF)";
  const fs::path dir = scratch("bad");
  const auto one_line = [&](const std::string& args, const std::string& command, const std::string& what) {
    const Outcome r = shell(fmt::format("{} {}", mpirun(2, /*quiet=*/true), args), dir);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;   // rank 0's line; rank 1 says nothing of the same mistake
    EXPECT_THAT(r.err, ::testing::StartsWith(fmt::format("t5scale {}: error: ", command)));
    EXPECT_THAT(r.err, HasSubstr(what));
    EXPECT_TRUE(slurp(dir / "out.txt").empty());
  };
  one_line("train --model shape.json --steps 2 --batch 6 --grad-accum 2 --checkpoint-dir c --json-out l.jsonl",
           "train", "--batch 6 / --grad-accum 2 = 3 rows per micro-batch do not split over 2 MPI ranks");
  one_line("train --model shape.json --steps 2 --lr -1", "train", "--lr");
  one_line("shapes", "shapes", "started as 2 MPI ranks, but 't5scale shapes' runs in one process");
  EXPECT_FALSE(fs::exists(dir / "c"));
  EXPECT_FALSE(fs::exists(dir / "l.jsonl"));
  fs::remove_all(dir);
}

// Ranks that do not see the same checkpoint directory (results not shared between nodes): simulated
// with one rank per working directory (mpirun's MPMD form) and a relative --checkpoint-dir; only
// rank 0's holds a checkpoint. The ranks' agreement check is one line, and nothing is overwritten.
TEST(Mpi, CheckpointDirectoryNotSharedIsOneLine) {
  if (!have_mpirun()) GTEST_SKIP() << "built without MPI (T5SCALE_MPI=OFF)";
  const fs::path dir = scratch("unshared");
  fs::create_directories(dir / "node0");
  fs::create_directories(dir / "node1");
  for (const char* node : {"node0", "node1"}) fs::copy_file(dir / "shape.json", dir / node / "shape.json");
  const std::string args = fmt::format("train --model shape.json --data {} --batch 4 --inputs-length 32 --threads 1 "
                                       "--checkpoint-dir ckpt", kFixture);
  const Outcome first = shell(fmt::format("cd node0 && {} {} --steps 4", mpirun(2), args), dir);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string before = slurp(dir / "node0" / "ckpt" / "state.json");
  const std::string one_rank = fmt::format("-np 1 {} {} --steps 8 --resume", T5SCALE_BINARY, args);
  const std::string mpmd = fmt::format(
      "OMP_NUM_THREADS=1 timeout 120 {} -q --allow-run-as-root --oversubscribe --bind-to none -wdir {} {} : -wdir {} {}",
      T5SCALE_MPIRUN, (dir / "node0").string(), one_rank, (dir / "node1").string(), one_rank);
  const Outcome r = shell(mpmd, dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // Rank 0's announcement of the run, then one error line (found once training began: not two ranks' two).
  ASSERT_EQ(lines(r.err), 2) << r.err;
  const std::string error = r.err.substr(r.err.find('\n') + 1);
  EXPECT_THAT(error, ::testing::StartsWith("t5scale train: error: data parallelism: at the start the ranks are at "
                                           "different steps (0 to 4) of checkpoint directory ckpt"));
  EXPECT_THAT(r.err, HasSubstr("every rank sees"));
  EXPECT_EQ(slurp(dir / "node0" / "ckpt" / "state.json"), before);
  EXPECT_FALSE(fs::exists(dir / "node1" / "ckpt"));
  fs::remove_all(dir);
}

// A build without MPI started as one of K > 1 processes refuses (the check its MpiSession makes; this
// build has MPI, so the check is called directly), and the launch is read from the launchers' variables.
TEST(Mpi, LaunchFromEnvironmentAndTheRefusalWithoutMpi) {
  const char* vars[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_STEP_NUM_TASKS",
                        "PMI_SIZE", "PMI_RANK"};
  testing::ScopedEnv restore({{vars[0], ""}, {vars[1], ""}, {vars[2], ""}, {vars[3], ""}, {vars[4], ""}, {vars[5], ""}});
  for (const char* v : vars) unsetenv(v);
  cluster::Launch l = cluster::launch_from_environment();
  EXPECT_FALSE(l.launched);
  EXPECT_EQ(l.size, 1);
  setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  l = cluster::launch_from_environment();
  EXPECT_TRUE(l.launched);
  EXPECT_EQ(l.size, 3);
  EXPECT_EQ(l.rank, 2);
  try {
    cluster::refuse_without_mpi(l);
    ADD_FAILURE() << "no refusal";
  } catch (const cluster::SameOnEveryRank& e) {
    EXPECT_THAT(e.message(), HasSubstr("started as 3 MPI ranks, but this t5scale was built without MPI"));
  }
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("OMPI_COMM_WORLD_RANK");
  setenv("PMIX_RANK", "1", 1);
  setenv("SLURM_STEP_NUM_TASKS", "4", 1);
  l = cluster::launch_from_environment();
  EXPECT_EQ(l.size, 4);
  EXPECT_EQ(l.rank, 1);
  cluster::refuse_without_mpi(cluster::Launch{});   // one process: nothing to refuse
  setenv("SLURM_STEP_NUM_TASKS", "x4", 1);
  EXPECT_THROW(cluster::launch_from_environment(), Error);
}

}  // namespace
}  // namespace t5
