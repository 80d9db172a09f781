#include "cli/model_inputs.h"

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/hf_batch.h"
#include "core/json_file.h"
#include "core/names.h"

namespace t5::cli {

ModelInputs load_model_inputs(const std::string& model_arg, const std::string& weights, const std::string& batch_path) {
  const Shape shape = resolve_shape(model_arg);
  ModelInputs in{Model(shape), Batch{}};
  load_hf_weights(in.model, hf_weights_path(weights));
  in.batch = batch_from_hf_json(read_json_file(batch_path), batch_path, shape.vocab_size);
  T5_CHECK_HINT(in.batch.label_tokens() > 0, "set some labels to token ids", "{}:labels: no label tokens (all -100)",
                batch_path);
  return in;
}

}  // namespace t5::cli
