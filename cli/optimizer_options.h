// Optimizer command-line options shared by `t5scale step` and `t5scale train`, so both spell and
// default the hyper-parameters the same way.
#pragma once

#include "cli/command.h"
#include "core/optimizer.h"

namespace t5::cli {

// Adds --optimizer, --beta1, --beta2, --eps, --weight-decay, --clip-norm, --factor-threshold,
// --no-parameter-scale, --no-factoring, --decay-exponent, --update-clip.
void add_optimizer_options(po::options_description& options);
// Reads them back; --beta1 sets Adafactor's momentum or AdamW's beta1, whichever is chosen.
OptimizerConfig optimizer_config_from_options(const po::variables_map& vm);

}  // namespace t5::cli
