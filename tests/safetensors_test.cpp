// safetensors reading and writing: round trips, dtype conversions checked against hand-worked bit
// patterns (IEEE half and bfloat16 encodings), and one test per rejection path asserting that the
// error names the file, the tensor and the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/safetensors.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("t5scale_safetensors_{}_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                       ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with an explicit header length field, header text and data bytes.
  std::string raw(uint64_t header_length, const std::string& header, const std::string& data,
                  const std::string& name = "t.safetensors") {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&header_length), 8);
    out << header << data;
    return p;
  }
  std::string raw(const std::string& header, const std::string& data) { return raw(header.size(), header, data); }

  // Reading `file` must fail with a message containing the file path and every fragment.
  void expect_rejected(const std::string& file, const std::vector<std::string>& fragments) {
    try {
      read_safetensors(file);
      ADD_FAILURE() << "accepted " << file;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_THAT(message, HasSubstr(file));
      for (const auto& f : fragments) EXPECT_THAT(message, HasSubstr(f));
      EXPECT_EQ(message.find('\n'), std::string::npos) << "error is not one line: " << message;
    }
  }

  fs::path dir_;
};

std::string bytes_of(const std::vector<uint16_t>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 2); }
std::string bytes_of(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

TEST_F(Safetensors, RoundTripF32KeepsBitsOrderAndMetadata) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<Tensor> in = {
      {"b.weight", "F32", {2, 3}, {1.0f, -2.5f, 3.25e-38f, inf, -0.0f, 1e30f}},
      {"a.weight", "F32", {4}, {0.1f, 0.2f, 0.3f, 0.4f}},
      {"scalar", "F32", {}, {7.0f}},
      {"empty", "F32", {0, 5}, {}},
  };
  const std::string p = path("rt.safetensors");
  write_safetensors(p, in, {{"format", "pt"}, {"note", "x"}});
  std::map<std::string, std::string> meta;
  const auto out = read_safetensors(p, &meta);
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "x"}}));
  ASSERT_EQ(out.size(), in.size());
  // Data order is write order; the zero-size tensor sits at the end offset.
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].name, in[i].name);
    EXPECT_EQ(out[i].dtype, "F32");
    EXPECT_EQ(out[i].shape, in[i].shape);
    ASSERT_EQ(out[i].data.size(), in[i].data.size());
    EXPECT_EQ(std::memcmp(out[i].data.data(), in[i].data.data(), in[i].data.size() * 4), 0) << in[i].name;
  }
}

TEST_F(Safetensors, WrittenHeaderIsAlignedSpacePaddedWithFormatPt) {
  const std::string p = path("h.safetensors");
  write_safetensors(p, {{"x", "F32", {3}, {1, 2, 3}}});
  std::ifstream in(p, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), std::streamsize(n));
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F32\",\"shape\":[3],"
                         "\"data_offsets\":[0,12]}}",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.find_first_not_of(' ', header.rfind('}') + 1), std::string::npos);
  EXPECT_EQ(fs::file_size(p), 8 + n + 12);
}

TEST_F(Safetensors, ReadsHandWrittenF16) {
  // IEEE half: 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504 (max), 0x0001 = 2^-24 (min subnormal),
  // 0x0400 = 2^-14 (min normal), 0x7C00 = +inf, 0x3555 = 0.333251953125, 0x8000 = -0.
  const std::vector<uint16_t> bits = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x7C00, 0x3555, 0x8000};
  const auto t = read_safetensors(raw(R"({"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]}})", bytes_of(bits)));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].dtype, "F16");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{2, 4}));
  const std::vector<float> want = {1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), std::ldexp(1.0f, -14),
                                   std::numeric_limits<float>::infinity(), 0.333251953125f, -0.0f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(std::bit_cast<uint32_t>(t[0].data[i]), std::bit_cast<uint32_t>(want[i])) << i;
}

TEST_F(Safetensors, ReadsHandWrittenBF16) {
  // bfloat16 is the top half of a float32: 0x3F80 = 1, 0xC040 = -3, 0x3DCD = 0.10009765625.
  const std::vector<uint16_t> bits = {0x3F80, 0xC040, 0x3DCD};
  const auto t = read_safetensors(raw(R"({"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}})", bytes_of(bits)));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].dtype, "BF16");
  EXPECT_EQ(t[0].data, (std::vector<float>{1.0f, -3.0f, 0.10009765625f}));
}

TEST_F(Safetensors, MixedDtypesInAnyHeaderOrder) {
  // Header order differs from data order; data is F32 then F16.
  const std::string data = bytes_of(std::vector<float>{0.5f}) + bytes_of(std::vector<uint16_t>{0x4200});
  const auto t = read_safetensors(raw(R"({"z":{"dtype":"F16","shape":[1],"data_offsets":[4,6]},)"
                                      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                      data));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[0].data[0], 0.5f);
  EXPECT_EQ(t[1].name, "z");
  EXPECT_EQ(t[1].data[0], 3.0f);
}

TEST_F(Safetensors, BF16WriteRoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16 1.0 (even) and 1.0078125: rounds to 1.0;
  // 1 + 3·2^-8 lies halfway between 1.0078125 (odd mantissa) and 1.015625: rounds up.
  const std::vector<float> values = {1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8), -3.0f, 1.0f + std::ldexp(1.0f, -7)};
  const std::string p = path("bf.safetensors");
  write_safetensors(p, {{"w", "BF16", {4}, values}});
  EXPECT_EQ(fs::file_size(p) % 8, 0u);   // header padded; 8 data bytes
  const auto t = read_safetensors(p);
  EXPECT_EQ(t[0].dtype, "BF16");
  EXPECT_EQ(t[0].data, (std::vector<float>{1.0f, 1.015625f, -3.0f, 1.0078125f}));
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::quiet_NaN()) & 0x7fc0, 0x7fc0);
}

TEST(Conversions, F16RoundTripsEveryNonNaNPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;   // NaN payloads
    ASSERT_EQ(float_to_f16(f16_to_float(uint16_t(h))), h) << std::hex << h;
  }
}

TEST(Conversions, F16RoundsToNearestEvenAndOverflows) {
  const float ulp = std::ldexp(1.0f, -10);   // half's spacing at 1
  EXPECT_EQ(float_to_f16(1.0f + ulp / 2), 0x3C00);        // tie, even stays
  EXPECT_EQ(float_to_f16(1.0f + 3 * ulp / 2), 0x3C02);    // tie, odd rounds up
  EXPECT_EQ(float_to_f16(1.0f + ulp * 0.51f), 0x3C01);
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(float_to_f16(-1e10f), 0xFC00);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);          // tie with 0, even
  EXPECT_EQ(float_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);          // 1.5 units -> 2 (even)
  EXPECT_EQ(float_to_f16(std::ldexp(1023.5f, -24)), 0x0400);       // subnormal rounds up to min normal
}

TEST_F(Safetensors, F16WriteReadBack) {
  const std::string p = path("f16.safetensors");
  write_safetensors(p, {{"w", "F16", {3}, {1.0f, -2.0f, 0.1f}}});
  const auto t = read_safetensors(p);
  EXPECT_EQ(t[0].dtype, "F16");
  EXPECT_EQ(t[0].data, (std::vector<float>{1.0f, -2.0f, 0.0999755859375f}));
}

TEST_F(Safetensors, OverwriteIsAtomicAndFailedWriteLeavesOldFile) {
  const std::string p = path("w.safetensors");
  write_safetensors(p, {{"x", "F32", {1}, {1.0f}}});
  write_safetensors(p, {{"x", "F32", {2}, {2.0f, 3.0f}}});
  EXPECT_EQ(read_safetensors(p)[0].data, (std::vector<float>{2.0f, 3.0f}));
  EXPECT_THROW(write_safetensors(p, {{"y", "F32", {3}, {1.0f}}}), Error);
  EXPECT_EQ(read_safetensors(p)[0].data, (std::vector<float>{2.0f, 3.0f}));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "temporary file left behind";
}

TEST_F(Safetensors, WriteRejectsDuplicateNamesBadShapesAndDtypes) {
  const std::string p = path("bad.safetensors");
  auto message = [&](const std::vector<Tensor>& t) {
    try {
      write_safetensors(p, t);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(message({{"x", "F32", {1}, {1}}, {"x", "F32", {1}, {2}}}), HasSubstr("duplicate tensor name 'x'"));
  EXPECT_THAT(message({{"x", "F32", {2, 2}, {1, 2, 3}}}), HasSubstr("tensor 'x': shape [2, 2] has 4 elements but data holds 3"));
  EXPECT_THAT(message({{"x", "I8", {1}, {1}}}), HasSubstr("tensor 'x': cannot write dtype 'I8'"));
  EXPECT_THAT(message({{"__metadata__", "F32", {1}, {1}}}), HasSubstr("invalid tensor name"));
  EXPECT_FALSE(fs::exists(p));
}

// --- rejection paths, one each ---

TEST_F(Safetensors, RejectsMissingFile) { expect_rejected(path("nope.safetensors"), {"cannot open"}); }

TEST_F(Safetensors, RejectsFileShorterThan8Bytes) {
  const std::string p = path("short.safetensors");
  std::ofstream(p, std::ios::binary) << "abc";
  expect_rejected(p, {"file is 3 bytes, shorter than the 8-byte header length"});
}

TEST_F(Safetensors, RejectsHeaderLengthBeyondFile) {
  expect_rejected(raw(1000, "{}", ""), {"header length 1000 runs beyond the end of the 10-byte file"});
}

TEST_F(Safetensors, RejectsHugeHeaderLengthWithoutOverflow) {
  expect_rejected(raw(std::numeric_limits<uint64_t>::max(), "{}", ""), {"header length 18446744073709551615 runs beyond"});
  expect_rejected(raw(std::numeric_limits<uint64_t>::max() - 6, "{}", ""), {"runs beyond"});
}

TEST_F(Safetensors, RejectsHeaderNotStartingWithBrace) {
  expect_rejected(raw(" {}", ""), {"header does not start with '{'"});
  expect_rejected(raw("[1]", ""), {"header does not start with '{'"});
  expect_rejected(raw(0, "", ""), {"header does not start with '{'"});
}

TEST_F(Safetensors, RejectsHeaderThatIsNotJson) {
  expect_rejected(raw(R"({"a": {"dtype": "F32",)", ""), {"header is not valid JSON"});
  expect_rejected(raw(R"({"a": 1} trailing)", ""), {"header is not valid JSON"});
  expect_rejected(raw(R"({"a": 24e327})", ""), {"header is not valid JSON", "number overflow"});   // found by fuzzing
}

TEST_F(Safetensors, AcceptsSpacePaddedHeader) {
  const auto t = read_safetensors(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}      )",
                                      bytes_of(std::vector<float>{2.0f})));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].data[0], 2.0f);
}

TEST_F(Safetensors, RejectsUnknownDtype) {
  expect_rejected(raw(R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", "abcd"),
                  {"tensor 'w'", "unknown dtype 'Q4'"});
}

TEST_F(Safetensors, RejectsUnsupportedDtypeWithHint) {
  expect_rejected(raw(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", "abcdefgh"),
                  {"tensor 'w'", "unsupported dtype I64", "hint: convert"});
}

TEST_F(Safetensors, RejectsShapeOffsetSizeMismatch) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", std::string(20, '\0')),
                  {"tensor 'w'", "shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20"});
}

TEST_F(Safetensors, RejectsShapeWhoseSizeOverflows) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4]}})", "abcd"),
                  {"tensor 'w'", "too many elements"});
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", "abcd"),
                  {"tensor 'w'", "needs"});
}

TEST_F(Safetensors, RejectsNegativeOrNonIntegerShape) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"),
                  {"tensor 'w'", "shape entries must be non-negative integers"});
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "abcd"),
                  {"tensor 'w'", "shape entries must be non-negative integers"});
}

TEST_F(Safetensors, RejectsOverlappingOffsets) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      std::string(12, '\0')),
                  {"tensor 'b'", "overlap tensor 'a' [0, 8]"});
}

TEST_F(Safetensors, RejectsIdenticalOffsets) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                      std::string(4, '\0')),
                  {"overlap tensor"});
}

TEST_F(Safetensors, RejectsOutOfRangeOffsets) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, '\0')),
                  {"tensor 'w'", "data_offsets [0, 8] beyond the 4 data bytes"});
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}})", ""),
                  {"tensor 'w'", "beyond the 0 data bytes"});
}

TEST_F(Safetensors, RejectsEndBeforeBegin) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", std::string(8, '\0')),
                  {"tensor 'w'", "end before begin"});
}

TEST_F(Safetensors, RejectsMalformedOffsets) {
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", std::string(4, '\0')),
                  {"tensor 'w'", "data_offsets must be [begin, end]"});
  expect_rejected(raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", std::string(4, '\0')),
                  {"tensor 'w'", "data_offsets must be non-negative integers"});
}

TEST_F(Safetensors, RejectsHoleBetweenTensors) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      std::string(12, '\0')),
                  {"tensor 'b'", "hole of 4 bytes"});
}

TEST_F(Safetensors, RejectsHoleAtStart) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
                  {"tensor 'a'", "hole of 4 bytes"});
}

TEST_F(Safetensors, RejectsTrailingBytes) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(6, '\0')),
                  {"2 bytes of data after the last tensor"});
}

TEST_F(Safetensors, RejectsDuplicateTensorNames) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      std::string(8, '\0')),
                  {"duplicate key 'a'"});
}

TEST_F(Safetensors, RejectsDuplicateKeysInsideAnEntry) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                  {"duplicate key 'dtype'"});
}

TEST_F(Safetensors, RejectsNonStringMetadata) {
  expect_rejected(raw(R"({"__metadata__":{"format":"pt","step":3}})", ""), {"__metadata__ key 'step' is not a string"});
  expect_rejected(raw(R"({"__metadata__":["pt"]})", ""), {"__metadata__ must be an object"});
}

TEST_F(Safetensors, RejectsMissingAndUnknownEntryKeys) {
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1]}})", ""), {"tensor 'a'", "missing 'data_offsets'"});
  expect_rejected(raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", std::string(4, '\0')),
                  {"tensor 'a'", "unknown key 'x'"});
  expect_rejected(raw(R"({"a":[1,2]})", ""), {"tensor 'a'", "entry must be an object"});
}

// Random edits of a valid file (bytes, JSON characters, deletions, header-length nudges) must be
// accepted or rejected with t5::Error, never crash or throw anything else. A longer run of this
// under AddressSanitizer (200k mutations) found the number-overflow case above.
TEST_F(Safetensors, MutatedFilesOnlyEverRaiseT5Errors) {
  const std::string base_path = path("base.safetensors");
  write_safetensors(base_path, {{"a", "F32", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", "BF16", {4}, {1, 2, 3, 4}},
                                {"c", "F16", {1}, {0.5f}}});
  std::ifstream in(base_path, std::ios::binary);
  const std::string base((std::istreambuf_iterator<char>(in)), {});
  std::mt19937_64 rng(2026);
  const std::string alphabet = "{}[]\":,0123456789-eE. aFBI16x\\u";
  int rejected = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string s = base;
    for (int edit = 0, edits = 1 + int(rng() % 4); edit < edits && !s.empty(); ++edit) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0: s[pos] = char(rng()); break;
        case 1: s[pos] = alphabet[rng() % alphabet.size()]; break;
        case 2: s.erase(pos, 1 + rng() % 3); break;
        case 3: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default:
          if (s.size() >= 8) {
            uint64_t n = 0;
            std::memcpy(&n, s.data(), 8);
            n += uint64_t(int64_t(rng() % 7) - 3);
            std::memcpy(s.data(), &n, 8);
          }
      }
    }
    const std::string p = path("m.safetensors");
    std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
    try {
      read_safetensors(p);
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": non-t5 exception: " << e.what();
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST_F(Safetensors, EmptyFileWithEmptyHeaderHasNoTensors) {
  EXPECT_TRUE(read_safetensors(raw("{}", "")).empty());
  const std::string p = path("none.safetensors");
  write_safetensors(p, {});
  EXPECT_TRUE(read_safetensors(p).empty());
}

}  // namespace
}  // namespace t5
