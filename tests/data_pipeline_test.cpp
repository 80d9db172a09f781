// The data pipeline on the committed fixture corpus (tests/fixtures/data: Moby-Dick + Brown, 1000-piece
// model): tokenizer layout, end-to-end reconstruction, packing, HF mode, exact resume, every bad-input
// path, the unigram baseline, and the shipped demo corpus.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/data/c4_source.h"
#include "core/data/corpus_builder.h"
#include "core/data/text_reader.h"
#include "core/data/tokenizer.h"
#include "core/error.h"

namespace t5 {
namespace {
namespace fs = std::filesystem;

const std::string kFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data";
const std::string kModel = kFixture + "/spiece.model";

std::vector<int32_t> row(const std::vector<int32_t>& v, int64_t r, int64_t n) {
  return {v.begin() + r * n, v.begin() + (r + 1) * n};
}

// Examples of a batch, segment by segment: (inputs, targets) with padding removed.
std::vector<SpanExample> unpack(const Batch& b) {
  std::vector<SpanExample> out;
  for (int64_t r = 0; r < b.batch; ++r) {
    std::map<int32_t, SpanExample> segs;
    for (int64_t i = 0; i < b.inputs_length; ++i) {
      const int32_t s = b.encoder_segment_ids[size_t(r * b.inputs_length + i)];
      if (s) segs[s].inputs.push_back(b.input_ids[size_t(r * b.inputs_length + i)]);
    }
    for (int64_t i = 0; i < b.targets_length; ++i) {
      const int32_t s = b.decoder_segment_ids[size_t(r * b.targets_length + i)];
      if (s) segs[s].targets.push_back(b.labels[size_t(r * b.targets_length + i)]);
    }
    for (auto& [s, ex] : segs) out.push_back(std::move(ex));
  }
  return out;
}

// Inputs and targets merged at the sentinels (ids >= piece_count).
std::vector<int32_t> reconstruct(const SpanExample& ex, int32_t piece_count) {
  std::map<int32_t, std::vector<int32_t>> spans;
  int32_t current = -1;
  for (int32_t id : ex.targets) {
    if (id == kEosId) break;
    if (id >= piece_count) current = id;
    else spans[current].push_back(id);
  }
  std::vector<int32_t> out;
  for (int32_t id : ex.inputs) {
    if (id == kEosId) break;
    if (id >= piece_count) out.insert(out.end(), spans[id].begin(), spans[id].end());
    else out.push_back(id);
  }
  return out;
}

std::vector<std::string> read_all(const std::string& path, const std::string& split) {
  DocumentReader reader(list_corpus_files(path, split), BadDataPolicy::stop);
  std::vector<std::string> docs;
  Document d;
  while (reader.next(d)) docs.push_back(d.text);
  return docs;
}

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / fmt::format("t5scale-data-test-{}", ::getpid())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream((path / name).string(), std::ios::binary) << content;
    return (path / name).string();
  }
  std::string write_gz(const std::string& name, const std::string& content) const {
    const std::string p = (path / name).string();
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, content.data(), unsigned(content.size()));
    gzclose(f);
    return p;
  }
};

TEST(Tokenizer, T5Layout) {
  const Tokenizer tok(kModel);
  EXPECT_EQ(tok.piece_count(), 1000);
  EXPECT_EQ(tok.vocab_size(), 1100);
  EXPECT_EQ(tok.sentinel(0), 1099);
  EXPECT_EQ(tok.sentinel(99), 1000);
  EXPECT_EQ(tok.embedding_rows(), 1152);
  EXPECT_THROW(tok.sentinel(100), Error);
  const std::vector<std::string> texts = read_all(kFixture, "validation");
  const auto batch = tok.encode_batch(texts);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], tok.encode(texts[i]));
  const std::vector<int32_t> ids = tok.encode("Call me Ishmael.");
  EXPECT_EQ(tok.decode(ids), "Call me Ishmael.");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1099, 1, 0}), "<extra_id_0></s><pad>");
}

TEST(Tokenizer, ShippedDemoModel) {
  const Tokenizer tok(std::string(T5SCALE_SOURCE_DIR) + "/corpus/demo/spiece.model");
  EXPECT_EQ(tok.piece_count(), 32000);
  EXPECT_EQ(tok.sentinel(0), 32099);
  EXPECT_EQ(tok.sentinel(99), 32000);
  EXPECT_EQ(tok.embedding_rows(), 32128);
}

TEST(Tokenizer, RejectsModelsWithoutT5Ids) {
  // spm_train's defaults (unk 0, bos 1, eos 2, no pad) are not T5's layout: refused, naming the file.
  TempDir dir;
  std::vector<std::string> lines;
  for (const auto& text : read_all(kFixture, "validation"))
    for (const auto& s : split_sentences(text)) lines.push_back(s);
  const std::string prefix = (dir.path / "default-ids").string();
  const std::string input = dir.write("lines.txt", fmt::format("{}\n", fmt::join(lines, "\n")));
  ASSERT_TRUE(sentencepiece::SentencePieceTrainer::Train("--input=" + input + " --model_prefix=" + prefix +
                                                         " --vocab_size=300 --model_type=unigram --minloglevel=1")
                  .ok());
  try {
    Tokenizer tok(prefix + ".model");
    FAIL() << "a model with unk 0, bos 1, eos 2 must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("default-ids.model: ids pad -1, eos 2, unk 0"), std::string::npos) << e.what();
  }
  // The same text with T5's ids loads, with the sentinels after its 300 pieces.
  train_sentencepiece(lines, 300, prefix + "-t5.model");
  const Tokenizer t5(prefix + "-t5.model");
  EXPECT_EQ(t5.sentinel(0), 399);
  EXPECT_EQ(t5.embedding_rows(), 512);
}

// A model file that is not one (another file, cut short, empty): one message naming the file, not
// SentencePiece's 'Internal: ./src/sentencepiece_processor.cc(1101) [model_proto->ParseFromArray(...)]'
// nor, for an empty file, 'unk is not defined.'.
TEST(Tokenizer, BadModelFile) {
  const std::string cut = ::testing::TempDir() + "cut.model", empty = ::testing::TempDir() + "empty.model";
  std::ifstream in(kModel, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, 1);
  std::ofstream(empty, std::ios::binary) << "";
  for (const auto& [path, what] : {std::pair{kFixture + "/manifest.json", std::string("not a SentencePiece model: the file does not parse as one")},
                                   std::pair{cut, std::string("not a SentencePiece model: the file does not parse as one")},
                                   std::pair{empty, std::string("not a SentencePiece model: the file is empty")}}) {
    try {
      Tokenizer tok(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.message(), path + ": " + what) << e.what();
    }
  }
  std::remove(cut.c_str());
  std::remove(empty.c_str());
}

TEST(C4Source, ReconstructsTheTokenStream) {
  // One window of one document keeps file order; one group holds the whole split (120 documents).
  C4SourceOptions opt;
  opt.shuffle_window = 1;
  opt.documents_per_group = 120;
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  C4Source source(kFixture, "train", kModel, cfg, 16, 5, opt);
  const Tokenizer& tok = source.tokenizer();
  std::vector<int32_t> expected;
  for (const auto& text : read_all(kFixture, "train")) {
    const auto ids = tok.encode(text);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  const int64_t T = source.lengths().tokens_length;
  const size_t pieces = (expected.size() + size_t(T) - 1) / size_t(T);
  std::vector<int32_t> got;
  size_t examples = 0;
  while (examples < pieces) {
    const Batch b = source.next();
    for (const SpanExample& ex : unpack(b)) {
      if (examples++ == pieces) break;
      const auto piece = reconstruct(ex, int32_t(tok.piece_count()));
      ASSERT_LE(int64_t(piece.size()), T);
      got.insert(got.end(), piece.begin(), piece.end());
    }
  }
  EXPECT_EQ(got, expected);
}

TEST(C4Source, NoiseStatisticsOverPipelinePieces) {
  // Every full piece of the stream at inputs 512 (T = 568): noise share 0.15 +- 0.005, mean span
  // 3 +- 0.1, the piece starts with a kept token, sentinels count down from vocab_size - 1.
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 512;
  C4SourceOptions opt;
  opt.documents_per_group = 120;
  C4Source source(kFixture, "train", kModel, cfg, 8, 9, opt);
  const int32_t pieces = int32_t(source.tokenizer().piece_count());
  int64_t noise = 0, spans = 0, tokens = 0, full = 0;
  for (int n = 0; n < 12; ++n) {
    for (const SpanExample& ex : unpack(source.next())) {
      const auto piece = reconstruct(ex, pieces);
      if (int64_t(piece.size()) != source.lengths().tokens_length) continue;
      ++full;
      ASSERT_LT(ex.inputs.front(), pieces) << "the first token of a piece is never noise";
      int32_t expect = int32_t(source.tokenizer().sentinel(0));
      for (int32_t id : ex.targets) {
        if (id >= pieces) {
          ASSERT_EQ(id, expect--);
          ++spans;
        } else if (id != kEosId) {
          ++noise;
        }
      }
      tokens += int64_t(piece.size());
    }
  }
  ASSERT_GT(full, 80);
  EXPECT_NEAR(double(noise) / double(tokens), 0.15, 0.005);
  EXPECT_NEAR(double(noise) / double(spans), 3.0, 0.1);
}

TEST(C4Source, PackedRowsAreWellFormed) {
  // Short documents, one per group: every example is a short tail and rows hold several.
  TempDir dir;
  std::string lines;
  for (const auto& text : read_all(kFixture, "validation"))
    for (const auto& sentence : split_sentences(text)) lines += nlohmann::json{{"text", sentence}}.dump() + "\n";
  const std::string file = dir.write("short-train.jsonl", lines);
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 128;
  C4SourceOptions opt;
  opt.documents_per_group = 1;
  C4Source source(file, "train", kModel, cfg, 32, 1, opt);
  EXPECT_EQ(source.lengths().targets_length, 29);
  int64_t multi_segment_rows = 0;
  for (int n = 0; n < 8; ++n) {
    const Batch b = source.next();
    ASSERT_EQ(b.input_ids.size(), size_t(32 * 128));
    ASSERT_EQ(b.labels.size(), size_t(32 * 29));
    for (int64_t r = 0; r < b.batch; ++r) {
      const auto es = row(b.encoder_segment_ids, r, 128), ds = row(b.decoder_segment_ids, r, 29);
      const auto ids = row(b.input_ids, r, 128), dec = row(b.decoder_input_ids, r, 29), lab = row(b.labels, r, 29);
      multi_segment_rows += *std::max_element(es.begin(), es.end()) > 1;
      for (size_t i = 0; i < es.size(); ++i) {
        if (i > 0 && es[i] != 0) {
          ASSERT_GE(es[i], es[i - 1]);
        }
        if (es[i] == 0) {
          ASSERT_EQ(ids[i], kPadId);
        }
      }
      for (size_t i = 0; i < ds.size(); ++i) {
        if (ds[i] == 0) {
          ASSERT_EQ(lab[i], kIgnoreLabel);
          ASSERT_EQ(dec[i], kPadId);
        } else if (i == 0 || ds[i] != ds[i - 1]) {
          ASSERT_EQ(dec[i], kDecoderStartId) << "decoder input restarts with 0 at each segment";
        } else {
          ASSERT_EQ(dec[i], lab[i - 1]);
        }
      }
    }
  }
  EXPECT_GT(multi_segment_rows, 0) << "short group tails are packed together";
}

TEST(C4Source, HfModeFixedRows) {
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  cfg.packed = false;
  C4SourceOptions opt;
  opt.documents_per_group = 120;   // the whole split: one group
  C4Source source(kFixture, "train", kModel, cfg, 16, 2, opt);
  for (int n = 0; n < 4; ++n) {
    const Batch b = source.next();
    for (int32_t s : b.encoder_segment_ids) ASSERT_EQ(s, 1);
    for (int32_t s : b.decoder_segment_ids) ASSERT_EQ(s, 1);
  }
  EXPECT_EQ(source.record()["mode"], "hf");
  EXPECT_GT(source.stats().dropped_tokens, 0);
  // EOS after every document; the remainder of the group (< tokens_length) is dropped.
  const std::vector<std::string> docs = read_all(kFixture, "train");
  int64_t tokens = 0;
  for (const auto& ids : source.tokenizer().encode_batch(docs)) tokens += int64_t(ids.size()) + 1;
  EXPECT_EQ(source.stats().documents, int64_t(docs.size()));
  EXPECT_EQ(source.stats().raw_tokens, tokens);
  EXPECT_EQ(source.stats().dropped_tokens, tokens % source.lengths().tokens_length);
}

class C4SourceResume : public ::testing::TestWithParam<bool> {};

TEST_P(C4SourceResume, ResumeIsExact) {
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  cfg.packed = GetParam();
  C4SourceOptions opt;
  if (!cfg.packed) opt.documents_per_group = 40;   // HF groups of 1000 would hold the whole fixture
  opt.shuffle_window = 50;
  C4Source a(kFixture, "train", kModel, cfg, 64, 11, opt);
  std::vector<nlohmann::json> positions;
  std::vector<Batch> batches;
  for (int n = 0; n < 30; ++n) {   // ~1.4 epochs of the fixture: crosses windows, groups and an epoch
    positions.push_back(a.position());
    batches.push_back(a.next());
  }
  EXPECT_GE(positions.back()["epoch"].get<int64_t>(), 1);
  for (int start : {0, 3, 17, 22, 29}) {
    C4Source b(kFixture, "train", kModel, cfg, 64, 11, opt);
    b.seek(nlohmann::json::parse(positions[size_t(start)].dump()));
    for (int n = start; n < 30; ++n) {
      const Batch x = b.next();
      ASSERT_EQ(x.input_ids, batches[size_t(n)].input_ids) << "resumed at " << start << ", batch " << n;
      ASSERT_EQ(x.labels, batches[size_t(n)].labels);
      ASSERT_EQ(x.decoder_segment_ids, batches[size_t(n)].decoder_segment_ids);
    }
  }
  // Another seed gives another stream; a position from other settings is refused.
  C4Source c(kFixture, "train", kModel, cfg, 64, 12, opt);
  EXPECT_NE(c.next().input_ids, batches[0].input_ids);
  EXPECT_THROW(c.seek(positions[3]), Error);
}

INSTANTIATE_TEST_SUITE_P(Modes, C4SourceResume, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "t5" : "hf"; });

// --- bad input ---------------------------------------------------------------------------------

const std::string kGood = R"({"text": "Call me Ishmael. Some years ago, never mind how long precisely.", "url": "u"})";

// Reads every document of `file` with `policy`; returns the counts.
BadDataCounts read_with(const std::string& file, BadDataPolicy policy, int64_t* documents = nullptr) {
  DocumentReader reader({file}, policy);
  Document d;
  int64_t n = 0;
  while (reader.next(d)) ++n;
  if (documents) *documents = n;
  return reader.bad_data();
}

void expect_stop_error(const std::string& file, const std::string& where, const std::string& what) {
  try {
    read_with(file, BadDataPolicy::stop);
    FAIL() << "no error for " << what;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(where), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(BadData, MalformedJsonLine) {
  TempDir dir;
  const std::string f = dir.write("a.jsonl", kGood + "\n{\"text\": \"cut\n" + kGood + "\n");
  int64_t docs = 0;
  const BadDataCounts c = read_with(f, BadDataPolicy::skip, &docs);
  EXPECT_EQ(docs, 2);
  EXPECT_EQ(c.malformed_json, 1);
  ASSERT_EQ(c.first_reports.size(), 1u);
  EXPECT_NE(c.first_reports[0].find("a.jsonl:2"), std::string::npos) << c.first_reports[0];
  expect_stop_error(f, "a.jsonl:2", "malformed JSON");
}

TEST(BadData, CountedOncePerLineAcrossEpochs) {
  // A small file read for many epochs: its one bad line is one count and one report.
  TempDir dir;
  const std::string f = dir.write("small-train.jsonl", kGood + "\n" + kGood + "\n{\"text\": \"cut\n" + kGood + "\n");
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  C4Source source(f, "train", kModel, cfg, 4, 0);
  for (int n = 0; n < 10; ++n) source.next();
  EXPECT_GT(source.stats().documents, 3 * 3) << "more than three epochs of 3 documents";
  EXPECT_EQ(source.stats().bad_data.malformed_json, 1);
  EXPECT_EQ(source.stats().bad_data.first_reports.size(), 1u);
}

TEST(BadData, MissingTextKey) {
  TempDir dir;
  const std::string f = dir.write("b.jsonl", kGood + "\n" + kGood + "\n{\"body\": \"x\"}\n{\"text\": 3}\n");
  int64_t docs = 0;
  EXPECT_EQ(read_with(f, BadDataPolicy::skip, &docs).missing_text, 2);
  EXPECT_EQ(docs, 2);
  expect_stop_error(f, "b.jsonl:3", "\"text\"");
}

TEST(BadData, InvalidUtf8) {
  TempDir dir;
  const std::string f = dir.write("c.jsonl", "{\"text\": \"caf\xC3\"}\n" + kGood + "\n{\"text\": \"\xED\xA0\x80\"}\n");
  int64_t docs = 0;
  EXPECT_EQ(read_with(f, BadDataPolicy::skip, &docs).invalid_utf8, 2);
  EXPECT_EQ(docs, 1);
  expect_stop_error(f, "c.jsonl:1", "invalid UTF-8");
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x90\x8B"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));   // overlong
}

TEST(BadData, TruncatedGzip) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 2000; ++i) content += kGood + "\n";
  const std::string whole = dir.write_gz("d.json.gz", content);
  const auto size = fs::file_size(whole);
  fs::resize_file(whole, size / 2);
  int64_t docs = 0;
  const BadDataCounts c = read_with(whole, BadDataPolicy::skip, &docs);
  EXPECT_EQ(c.truncated_gzip, 1);
  EXPECT_GT(docs, 0);
  EXPECT_LT(docs, 2000);
  // The fragment after the last whole line is where the data stops: line docs + 1.
  ASSERT_EQ(c.first_reports.size(), 1u);
  EXPECT_NE(c.first_reports[0].find(fmt::format("d.json.gz:{}: truncated", docs + 1)), std::string::npos)
      << c.first_reports[0];
  expect_stop_error(whole, fmt::format("d.json.gz:{}:", docs + 1), "truncated");
}

TEST(BadData, TruncatedSecondGzipMember) {
  // A shard of two concatenated gzip members (as `cat a.gz b.gz` makes): the first is read whole,
  // the cut in the second is reported at its line.
  TempDir dir;
  std::string second;
  for (int i = 0; i < 2000; ++i) second += kGood + "\n";
  const std::string a = dir.write_gz("a.gz", kGood + "\n" + kGood + "\n" + kGood + "\n");
  const std::string b = dir.write_gz("b.gz", second);
  std::ifstream ia(a, std::ios::binary), ib(b, std::ios::binary);
  std::string bytes_a((std::istreambuf_iterator<char>(ia)), {}), bytes_b((std::istreambuf_iterator<char>(ib)), {});
  const std::string whole = dir.write("two-members.json.gz", bytes_a + bytes_b.substr(0, bytes_b.size() / 2));
  int64_t docs = 0;
  const BadDataCounts c = read_with(whole, BadDataPolicy::skip, &docs);
  EXPECT_EQ(c.truncated_gzip, 1);
  EXPECT_GT(docs, 3);
  EXPECT_LT(docs, 2003);
  expect_stop_error(whole, fmt::format("two-members.json.gz:{}:", docs + 1), "truncated");
  // Untruncated, both members are read.
  const std::string full = dir.write("full.json.gz", bytes_a + bytes_b);
  EXPECT_EQ(read_with(full, BadDataPolicy::stop, &docs).total(), 0);
  EXPECT_EQ(docs, 2003);
}

TEST(BadData, InvalidUtf8InPlainText) {
  TempDir dir;
  const std::string f = dir.write("g.txt", "Good line.\nbad \xFF byte\n\nSecond document.\n");
  int64_t docs = 0;
  const BadDataCounts c = read_with(f, BadDataPolicy::skip, &docs);
  EXPECT_EQ(c.invalid_utf8, 1);
  EXPECT_EQ(docs, 2);
  expect_stop_error(f, "g.txt:2", "invalid UTF-8");
}

TEST(BadData, EmptyCorpus) {
  TempDir dir;
  fs::create_directories(dir.path / "en");
  EXPECT_THROW(list_corpus_files(dir.path.string(), "train"), Error);
  dir.write("en/c4-train.00000-of-00001.json.gz", "");
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  try {
    C4Source s(dir.path.string(), "train", kModel, cfg, 2, 0);
    s.next();
    FAIL() << "an empty corpus must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty corpus"), std::string::npos) << e.what();
  }
  // All lines bad under skip: still an empty corpus.
  const std::string bad = dir.write("only-bad-train.jsonl", "{\"x\": 1}\n");
  try {
    C4Source s(bad, "train", kModel, cfg, 2, 0);
    s.next();
    FAIL() << "a corpus of bad lines must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty corpus"), std::string::npos) << e.what();
  }
}

TEST(BadData, PlainTextDocuments) {
  TempDir dir;
  const std::string f = dir.write("e.txt", "First paragraph\nstill first.\n\n\nSecond one.\n");
  DocumentReader reader({f}, BadDataPolicy::stop);
  Document d;
  ASSERT_TRUE(reader.next(d));
  EXPECT_EQ(d.text, "First paragraph\nstill first.");
  ASSERT_TRUE(reader.next(d));
  EXPECT_EQ(d.text, "Second one.");
  EXPECT_EQ(d.place.line, 4);
  EXPECT_FALSE(reader.next(d));
}

TEST(UnigramBaseline, MatchesLabelsOfOnePass) {
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 64;
  const double h = unigram_baseline_nats(kFixture, "validation", kModel, cfg, 4);
  // Independent path: the validation split (7 documents) is one group; count its labels from batches.
  C4SourceOptions opt;
  opt.documents_per_group = 7;
  C4Source source(kFixture, "validation", kModel, cfg, 8, 4, opt);
  std::map<int32_t, int64_t> counts;
  int64_t total = 0;
  while (source.position()["group"].get<int64_t>() == 0) {
    const Batch b = source.next();
    const auto examples = unpack(b);
    for (size_t i = 0; i < examples.size(); ++i) {
      for (int32_t id : examples[i].targets) ++counts[id], ++total;
    }
    if (source.position()["group"].get<int64_t>() != 0) {
      // The last batch ran into group 1: drop the examples that came from it.
      const int64_t extra = source.position()["example"].get<int64_t>();
      for (int64_t k = int64_t(examples.size()) - extra; k < int64_t(examples.size()); ++k)
        for (int32_t id : examples[size_t(k)].targets) --counts[id], --total;
    }
  }
  double expect = 0;
  for (const auto& [id, c] : counts)
    if (c > 0) expect -= double(c) / double(total) * std::log(double(c) / double(total));
  EXPECT_NEAR(h, expect, 1e-9);
  EXPECT_GT(h, 1.0);
  EXPECT_LT(h, std::log(1100.0));
}

// The baseline of a corpus whose every token is the same piece, worked by hand from SPEC.md §6: at
// inputs 128 a piece holds T = 141 raw tokens, 21 noise tokens (141 x 0.15 = 21.15, the same in float32)
// in round(21 / 3) = 7 spans, so its targets are 7 distinct sentinels, 21 copies of the piece and EOS
// (29 = targets_length, nothing trimmed). Ten full pieces (1410 tokens) give every sentinel and EOS a
// frequency 1/29 and the piece 21/29, whatever the spans' random placement:
//   H = 8 x (1/29) ln 29 + (21/29) ln(29/21) = 0.9289092 + 0.2337325 = 1.1626417 nats.
TEST(UnigramBaseline, OnePieceCorpusByHand) {
  TempDir dir;
  std::string text = "the";
  for (int i = 1; i < 1410; ++i) text += " the";
  const Tokenizer tok(kModel);
  const std::vector<int32_t> ids = tok.encode(text);
  ASSERT_EQ(ids.size(), 1410u);   // one piece per word, so the pieces are exactly 10 x 141 tokens
  ASSERT_TRUE(std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return id == ids[0]; }));
  dir.write("one-validation.jsonl", nlohmann::json{{"text", text}}.dump() + "\n");
  SpanCorruptionConfig cfg;
  cfg.inputs_length = 128;
  const double h = 8.0 / 29.0 * std::log(29.0) + 21.0 / 29.0 * std::log(29.0 / 21.0);
  EXPECT_NEAR(h, 1.1626417, 1e-7);
  for (uint64_t seed : {0, 7}) EXPECT_NEAR(unigram_baseline_nats(dir.path.string(), "validation", kModel, cfg, seed), h, 1e-12);
}

TEST(Corpus, ShippedDemoVerifies) {
  const nlohmann::json m = verify_corpus(std::string(T5SCALE_SOURCE_DIR) + "/corpus/demo");
  EXPECT_GT(m["verified_documents"].get<int64_t>(), 4000);
  const nlohmann::json f = verify_corpus(kFixture);
  EXPECT_EQ(f["verified_documents"].get<int64_t>(), 127);
}

TEST(Corpus, SentenceSplitAndDocuments) {
  const auto s = split_sentences("Mr. Smith went to Washington. He said \"Hello.\" Then he left! Did he? Yes.");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0], "Mr. Smith went to Washington.");
  EXPECT_EQ(s[1], "He said \"Hello.\"");
  std::string text;
  for (int i = 0; i < 400; ++i) text += fmt::format("Sentence number {} has six words. ", i);
  const auto docs = split_into_documents({"https://t5scale.invalid/x/y", text}, 3, 150, 600);
  int64_t words = 0;
  for (const auto& d : docs) {
    words += count_words(d.text);
    EXPECT_GE(count_words(d.text), 150 / 3);
    EXPECT_LE(count_words(d.text), 600 + 6 + 150 / 3);
  }
  EXPECT_EQ(words, 400 * 6);
  EXPECT_GE(docs.size(), 4u);
  const auto again = split_into_documents({"https://t5scale.invalid/x/y", text}, 3, 150, 600);
  EXPECT_EQ(again.size(), docs.size());
  EXPECT_EQ(again[0].text, docs[0].text);
}

}  // namespace
}  // namespace t5
