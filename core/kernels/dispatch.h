// Run-time dispatch of our own kernels (issue 13): the hot loops that are not matrix products
// (softmax, cross-entropy, norms, activations, optimizer updates) are compiled once per instruction-set
// level, each copy in its own namespace, and called through a table of function pointers chosen once
// from core/cpu_isa.h's active level. The pattern of Highway's HWY_NAMESPACE / HWY_EXPORT and of
// ggml's per-variant CPU backends, kept to plain function pointers.
//
// CMake compiles every core/kernels/*_isa.cpp with -DT5_ISA_NS=isa_<level> and that level's -march:
//   portable build (default): isa_baseline (x86-64-v2), isa_avx2 (x86-64-v3), isa_avx512 (x86-64-v4);
//   native build (-DT5SCALE_ARCH=native): isa_native only (-march=native), used on any CPU.
// A *_isa.cpp file must not run code at start-up (no dynamic initialisers: its tables are constinit),
// since that code would run on every CPU whatever its level.
// The oneDNN and OpenBLAS products are not here: those libraries dispatch themselves (capped by
// core/cpu_isa.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/cpu_isa.h"
#include "core/gemm.h"
#include "core/layers.h"
#include "core/kernels/optimizer_kernels.h"

namespace t5 {

// Pointers to one level's instantiations of the core/layers.h kernels, same signatures.
template <class T>
struct LayerKernels {
  decltype(&t5::dropout_apply<T>) dropout_apply;
  decltype(&t5::embedding_forward<T>) embedding_forward;
  decltype(&t5::embedding_backward<T>) embedding_backward;
  decltype(&t5::linear_forward<T>) linear_forward;
  decltype(&t5::linear_backward<T>) linear_backward;
  decltype(&t5::rmsnorm_forward<T>) rmsnorm_forward;
  decltype(&t5::rmsnorm_backward<T>) rmsnorm_backward;
  decltype(&t5::relative_bias_forward<T>) relative_bias_forward;
  decltype(&t5::relative_bias_backward<T>) relative_bias_backward;
  decltype(&t5::split_heads<T>) split_heads;
  decltype(&t5::merge_heads<T>) merge_heads;
  decltype(&t5::attention_forward<T>) attention_forward;
  decltype(&t5::attention_backward<T>) attention_backward;
  decltype(&t5::relu_forward<T>) relu_forward;
  decltype(&t5::relu_backward<T>) relu_backward;
  decltype(&t5::gelu_tanh<T>) gelu_tanh;
  decltype(&t5::gated_gelu_forward<T>) gated_gelu_forward;
  decltype(&t5::gated_gelu_backward<T>) gated_gelu_backward;
  decltype(&t5::cross_entropy_forward_backward<T>) cross_entropy_forward_backward;
};

// Pointers to one level's optimizer loops (core/kernels/optimizer_kernels.h).
struct OptimizerKernels {
  decltype(&t5::sum_squares) sum_squares;
  decltype(&t5::adamw_update) adamw_update;
  decltype(&t5::adafactor_update) adafactor_update;
};

// Pointers to one level's bf16 conversions (core/gemm.h's to_bf16, from_bf16).
struct ConvertKernels {
  decltype(&t5::to_bf16) to_bf16;
  decltype(&t5::from_bf16) from_bf16;
};

// The kernel variants this binary holds, best first ("avx512", "avx2", "baseline"; or "native").
struct KernelVariant {
  std::string name;
  IsaLevel level;  // the level the variant needs (native: the build machine's, taken as detected)
  const LayerKernels<float>* layers_float;
  const LayerKernels<double>* layers_double;
  const OptimizerKernels* optimizer;
  const ConvertKernels* convert;
};
const std::vector<KernelVariant>& kernel_variants();
// The variant the process runs: the best one whose level <= active_isa(). Chosen once.
const KernelVariant& active_kernels();
// One variant by name, for the tests that run every path; throws t5::Error if this binary lacks it
// or the CPU cannot run it.
const KernelVariant& kernels_named(const std::string& name);
// Variants this CPU can run (the tests' list).
std::vector<std::string> runnable_kernel_variants();

}  // namespace t5
