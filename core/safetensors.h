// safetensors files (SPEC.md §5; format of huggingface/safetensors): an 8-byte little-endian header
// length N, a JSON header of N bytes `{"__metadata__": {str: str}, name: {"dtype", "shape",
// "data_offsets": [begin, end]}}` (space-padded), then the tensors' row-major little-endian bytes,
// offsets relative to the end of the header, covering the data exactly with no holes or overlaps.
// Tensors live in memory as float32 whatever their file dtype (F32, F16, BF16). Reading validates
// everything before touching tensor bytes and never reads outside the file; errors are one line
// naming the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/atomic_file.h"

namespace t5 {

struct Tensor {
  std::string name;
  std::string dtype = "F32";     // file dtype: "F32", "F16" or "BF16" (the dtype written back)
  std::vector<int64_t> shape;
  std::vector<float> data;       // always float32 in memory, row-major

  int64_t numel() const;         // product of shape (1 for a scalar)
};

// Element count of a shape; throws t5::Error on a negative dimension or int64 overflow.
int64_t shape_numel(const std::vector<int64_t>& shape);
std::string shape_string(const std::vector<int64_t>& shape);   // "[32128, 512]"

// Bytes per element of a dtype t5scale converts (F32 4, F16 2, BF16 2); throws otherwise.
int dtype_size(const std::string& dtype);

// One tensor's entry in a validated header.
struct TensorInfo {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  uint64_t begin = 0, end = 0;   // data_offsets, relative to the start of the data section
};

// An opened, fully validated safetensors file; tensors are read one at a time on demand so a
// loader can convert straight into its own buffer.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);   // reads and validates the header; throws t5::Error

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }   // in data-offset order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;

  // Converts the tensor's numel() elements to float32 into `out`.
  void read(const TensorInfo& info, float* out) const;
  Tensor read(const TensorInfo& info) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;    // 8 + header length
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors, in data-offset order. `metadata` (optional) receives the __metadata__ map.
std::vector<Tensor> read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// A tensor to write without copying it: float32 values at `data`, stored as `dtype`.
struct TensorView {
  std::string name;
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  const float* data = nullptr;
  size_t size = 0;              // floats at `data`; must equal the shape's element count
};

// Writes tensors in the given order, each in its `dtype` ("F32", "BF16" or "F16"; float32 values are
// rounded to nearest even). Atomic: a temporary file beside `path`, fsync, rename over `path`.
// Throws t5::Error on duplicate or empty names, a shape that disagrees with the data size, or an
// unwritable dtype.
void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
void write_safetensors_views(const std::string& path, const std::vector<TensorView>& tensors,
                             const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
// The same checks, returning the file's bytes as a fill for write_files_atomic (several files that
// belong together). The tensors' data must outlive the fill; `path` only names errors.
FileFill safetensors_fill(const std::string& path, const std::vector<TensorView>& tensors,
                          const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
FileFill safetensors_fill(const std::string& path, const std::vector<Tensor>& tensors,
                          const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Float conversions used by the reader and writer (exposed for tests and the bf16 paths).
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);      // round to nearest even; NaN stays NaN
float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);       // round to nearest even; overflow to infinity

}  // namespace t5
