// safetensors reader and writer. The validation follows the rules of the reference implementation
// (huggingface/safetensors, `Metadata::validate`): offsets must tile the data section exactly, in
// any header order; on top of that we reject duplicate names, which nlohmann's parser would
// otherwise merge silently (last one wins), and unknown keys in a tensor entry.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_file.h"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so is this code");

namespace t5 {

namespace {

using json = nlohmann::json;

// Header lengths above this are refused before allocating (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Valid safetensors dtypes that t5scale does not convert; anything else is "unknown".
const std::set<std::string>& other_safetensors_dtypes() {
  static const std::set<std::string> s = {"F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                                          "BOOL", "F8_E4M3", "F8_E5M2"};
  return s;
}

bool convertible_dtype(const std::string& dtype) { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }

// Owns a read-only file descriptor.
class Fd {
 public:
  explicit Fd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

uint64_t file_size(const Fd& fd, const std::string& path) {
  struct stat st {};
  T5_CHECK(::fstat(fd.get(), &st) == 0, "{}: cannot stat: {}", path, std::strerror(errno));
  T5_CHECK(S_ISREG(st.st_mode), "{}: not a regular file", path);
  return uint64_t(st.st_size);
}

// Reads exactly `bytes` at `offset`; the caller has checked offset + bytes <= file size.
void read_exact(const Fd& fd, const std::string& path, uint64_t offset, void* out, uint64_t bytes) {
  char* p = static_cast<char*>(out);
  while (bytes > 0) {
    const size_t chunk = size_t(std::min<uint64_t>(bytes, 1u << 30));
    const ssize_t got = ::pread(fd.get(), p, chunk, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    T5_CHECK(got > 0, "{}: read failed at byte {}: {}", path, offset, got < 0 ? std::strerror(errno) : "file shrank");
    p += got;
    offset += uint64_t(got);
    bytes -= uint64_t(got);
  }
}

// Parses the header text, rejecting duplicate keys at any depth.
json parse_header(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end: open_objects.pop_back(); break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        break;
      default: break;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: header is not valid JSON (byte {} of the header): {}", path, e.byte,
                            json_error_text(e.what())));
  } catch (const json::exception& e) {   // e.g. a number too large for a double
    throw Error(fmt::format("{}: header is not valid JSON: {}", path, json_error_text(e.what())));
  }
  T5_CHECK(duplicate.empty(), "{}: header: duplicate key '{}'", path, duplicate);
  T5_CHECK(header.is_object(), "{}: header is not a JSON object", path);
  return header;
}

uint64_t get_offset(const json& v, const std::string& path, const std::string& name) {
  T5_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
           "{}: tensor '{}': data_offsets must be non-negative integers, got {}", path, name, v.dump());
  return v.get<uint64_t>();
}

TensorInfo parse_entry(const std::string& name, const json& entry, uint64_t data_size, const std::string& path) {
  T5_CHECK(!name.empty(), "{}: header has a tensor with an empty name", path);
  T5_CHECK(entry.is_object(), "{}: tensor '{}': entry must be an object, got {}", path, name, entry.type_name());
  for (const auto& [key, value] : entry.items())
    T5_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", "{}: tensor '{}': unknown key '{}'", path,
             name, key);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    T5_CHECK(entry.contains(key), "{}: tensor '{}': missing '{}'", path, name, key);

  TensorInfo info;
  info.name = name;
  const json& dtype = entry.at("dtype");
  T5_CHECK(dtype.is_string(), "{}: tensor '{}': dtype must be a string, got {}", path, name, dtype.dump());
  info.dtype = dtype.get<std::string>();
  T5_CHECK_HINT(convertible_dtype(info.dtype) || !other_safetensors_dtypes().count(info.dtype),
                "convert the weights to F32, F16 or BF16", "{}: tensor '{}': unsupported dtype {}", path, name,
                info.dtype);
  T5_CHECK(convertible_dtype(info.dtype), "{}: tensor '{}': unknown dtype '{}'", path, name, info.dtype);

  const json& shape = entry.at("shape");
  T5_CHECK(shape.is_array(), "{}: tensor '{}': shape must be an array, got {}", path, name, shape.dump());
  for (const json& d : shape) {
    T5_CHECK(d.is_number_integer() && (d.is_number_unsigned() || d.get<int64_t>() >= 0) &&
                 d.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()),
             "{}: tensor '{}': shape entries must be non-negative integers, got {}", path, name, shape.dump());
    info.shape.push_back(d.get<int64_t>());
  }
  try {
    info.numel = shape_numel(info.shape);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: tensor '{}': {}", path, name, e.message()));
  }

  const json& offsets = entry.at("data_offsets");
  T5_CHECK(offsets.is_array() && offsets.size() == 2, "{}: tensor '{}': data_offsets must be [begin, end], got {}",
           path, name, offsets.dump());
  info.begin = get_offset(offsets[0], path, name);
  info.end = get_offset(offsets[1], path, name);
  T5_CHECK(info.begin <= info.end, "{}: tensor '{}': data_offsets [{}, {}] end before begin", path, name, info.begin,
           info.end);
  T5_CHECK(info.end <= data_size, "{}: tensor '{}': data_offsets [{}, {}] beyond the {} data bytes of the file", path,
           name, info.begin, info.end, data_size);
  const uint64_t item = uint64_t(dtype_size(info.dtype));
  const uint64_t want = uint64_t(info.numel);
  T5_CHECK(want <= std::numeric_limits<uint64_t>::max() / item && want * item == info.end - info.begin,
           "{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] span {}", path, name,
           shape_string(info.shape), info.dtype, want <= std::numeric_limits<uint64_t>::max() / item ? want * item : 0,
           info.begin, info.end, info.end - info.begin);
  return info;
}

// Offsets must tile [0, data_size) exactly: no overlap, no hole, nothing after the last tensor.
void check_tiling(std::vector<TensorInfo>& tensors, uint64_t data_size, const std::string& path) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    T5_CHECK(t.begin >= expected, "{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", path, t.name,
             t.begin, t.end, previous ? previous->name : "", previous ? previous->begin : 0,
             previous ? previous->end : 0);
    T5_CHECK(t.begin == expected, "{}: tensor '{}': hole of {} bytes before its data_offsets [{}, {}]", path, t.name,
             t.begin - expected, t.begin, t.end);
    expected = t.end;
    previous = &t;
  }
  T5_CHECK(expected == data_size, "{}: {} bytes of data after the last tensor (data section {} bytes, tensors cover {})",
           path, data_size - expected, data_size, expected);
}

template <typename Convert>
void convert_chunks(const Fd& fd, const std::string& path, uint64_t offset, int64_t numel, float* out,
                    Convert convert) {
  constexpr int64_t kChunk = 1 << 20;
  std::vector<uint16_t> buffer(size_t(std::min(numel, kChunk)));
  for (int64_t done = 0; done < numel; done += kChunk) {
    const int64_t n = std::min(kChunk, numel - done);
    read_exact(fd, path, offset + uint64_t(done) * 2, buffer.data(), uint64_t(n) * 2);
    for (int64_t i = 0; i < n; ++i) out[done + i] = convert(buffer[size_t(i)]);
  }
}

}  // namespace

int64_t Tensor::numel() const { return shape_numel(shape); }

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    T5_CHECK(d >= 0, "negative dimension in shape {}", shape_string(shape));
    T5_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, "shape {} has too many elements",
             shape_string(shape));
    n *= d;
  }
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  throw Error(fmt::format("dtype '{}' is not one of F32, F16, BF16", dtype));
}

float bf16_to_float(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

uint16_t float_to_bf16(float value) {
  uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);   // quiet NaN, sign kept
  x += 0x7fffu + ((x >> 16) & 1u);
  return uint16_t(x >> 16);
}

float f16_to_float(uint16_t bits) {
  const uint32_t sign = uint32_t(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {   // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t float_to_f16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;    // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;   // >= 65520 rounds to infinity
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): adding 0.5 puts the value's 2^-24 units in the low
    // mantissa bits of a float, and the hardware add rounds to nearest even.
    const float shifted = std::bit_cast<float>(magnitude) + 0.5f;
    return sign | uint16_t(std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(0.5f));
  }
  const uint32_t odd = (magnitude >> 13) & 1u;
  magnitude += (uint32_t(15 - 127) << 23) + 0xfffu + odd;   // rebias the exponent, round to nearest even
  return sign | uint16_t(magnitude >> 13);
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  Fd fd(path);
  T5_CHECK(fd.get() >= 0, "{}: cannot open: {}", path, std::strerror(errno));
  const uint64_t size = file_size(fd, path);
  T5_CHECK(size >= 8, "{}: file is {} bytes, shorter than the 8-byte header length", path, size);
  uint64_t header_length = 0;
  read_exact(fd, path, 0, &header_length, 8);
  T5_CHECK(header_length <= size - 8, "{}: header length {} runs beyond the end of the {}-byte file", path,
           header_length, size);
  T5_CHECK(header_length <= kMaxHeaderBytes, "{}: header length {} exceeds the {}-byte limit", path, header_length,
           kMaxHeaderBytes);
  std::string text(size_t(header_length), '\0');
  read_exact(fd, path, 8, text.data(), header_length);
  T5_CHECK(!text.empty() && text[0] == '{', "{}: header does not start with '{{'", path);
  const json header = parse_header(text, path);

  data_start_ = 8 + header_length;
  const uint64_t data_size = size - data_start_;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      T5_CHECK(entry.is_object(), "{}: __metadata__ must be an object of strings, got {}", path, entry.type_name());
      for (const auto& [key, value] : entry.items()) {
        T5_CHECK(value.is_string(), "{}: __metadata__ key '{}' is not a string (got {})", path, key, value.dump());
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    tensors_.push_back(parse_entry(name, entry, data_size, path));
  }
  check_tiling(tensors_, data_size, path);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void SafetensorsFile::read(const TensorInfo& info, float* out) const {
  Fd fd(path_);
  T5_CHECK(fd.get() >= 0, "{}: cannot open: {}", path_, std::strerror(errno));
  // The file may have changed since the header was validated: re-check the bound before reading.
  T5_CHECK(data_start_ + info.end <= file_size(fd, path_), "{}: tensor '{}': file was truncated", path_, info.name);
  const uint64_t offset = data_start_ + info.begin;
  if (info.dtype == "F32") {
    read_exact(fd, path_, offset, out, uint64_t(info.numel) * 4);
  } else if (info.dtype == "BF16") {
    convert_chunks(fd, path_, offset, info.numel, out, bf16_to_float);
  } else {
    convert_chunks(fd, path_, offset, info.numel, out, f16_to_float);
  }
}

Tensor SafetensorsFile::read(const TensorInfo& info) const {
  Tensor t;
  t.name = info.name;
  t.dtype = info.dtype;
  t.shape = info.shape;
  t.data.resize(size_t(info.numel));
  read(info, t.data.data());
  return t;
}

std::vector<Tensor> read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  const SafetensorsFile file(path);
  if (metadata != nullptr) *metadata = file.metadata();
  std::vector<Tensor> out;
  out.reserve(file.tensors().size());
  for (const auto& info : file.tensors()) out.push_back(file.read(info));
  return out;
}

namespace {

std::vector<TensorView> views_of(const std::vector<Tensor>& tensors) {
  std::vector<TensorView> views;
  views.reserve(tensors.size());
  for (const Tensor& t : tensors) views.push_back({t.name, t.dtype, t.shape, t.data.data(), t.data.size()});
  return views;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_fill(path, views_of(tensors), metadata));
}

void write_safetensors_views(const std::string& path, const std::vector<TensorView>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_fill(path, tensors, metadata));
}

FileFill safetensors_fill(const std::string& path, const std::vector<Tensor>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  return safetensors_fill(path, views_of(tensors), metadata);
}

FileFill safetensors_fill(const std::string& path, const std::vector<TensorView>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorView& t : tensors) {
    T5_CHECK(!t.name.empty() && t.name != "__metadata__", "{}: invalid tensor name '{}'", path, t.name);
    T5_CHECK(names.insert(t.name).second, "{}: duplicate tensor name '{}'", path, t.name);
    T5_CHECK(t.dtype == "F32" || t.dtype == "BF16" || t.dtype == "F16",
             "{}: tensor '{}': cannot write dtype '{}' (F32, BF16 or F16)", path, t.name, t.dtype);
    const int64_t numel = shape_numel(t.shape);
    T5_CHECK(uint64_t(numel) == t.size, "{}: tensor '{}': shape {} has {} elements but data holds {}", path, t.name,
             shape_string(t.shape), numel, t.size);
    const uint64_t bytes = uint64_t(numel) * uint64_t(dtype_size(t.dtype));
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.empty() ? std::string("{}") : header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');   // data starts 8-byte aligned (8 + header length)
  const uint64_t header_length = text.size();

  return [tensors, text, header_length](FileSink& sink) {
    sink.write(&header_length, 8);
    sink.write(text.data(), text.size());
    std::vector<uint16_t> half;
    for (const TensorView& t : tensors) {
      if (t.dtype == "F32") {
        sink.write(t.data, t.size * 4);
        continue;
      }
      uint16_t (*convert)(float) = t.dtype == "BF16" ? float_to_bf16 : float_to_f16;
      constexpr size_t kChunk = 1 << 20;
      for (size_t done = 0; done < t.size; done += kChunk) {
        const size_t n = std::min(kChunk, t.size - done);
        half.resize(n);
        for (size_t i = 0; i < n; ++i) half[i] = convert(t.data[done + i]);
        sink.write(half.data(), n * 2);
      }
    }
  };
}

}  // namespace t5
