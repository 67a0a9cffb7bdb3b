// Evaluation shared by the ranks of a data-parallel job (nn/distributed.h):
// rank r evaluates images r, r + N, r + 2N, ... of the dataset, the root
// gathers every image's scores and computes the means, in the dataset's
// order. With one rank it is evaluate_dataset itself.
#pragma once
#include "dcsr/inference/eval.h"

namespace dcsr {

// The whole dataset's summary on the root (exactly what evaluate_dataset
// gives in one process, up to the rounding of nothing: the per-image numbers
// are the same, the means are summed in the same order); on the other ranks
// a summary with only their own images. Every rank must call it.
EvalSummary evaluate_dataset_sharded(const std::string& data_dir, const DcsrNet* net, EvalOptions options);
// The same for inputs check_eval_inputs gave for these options (eval.h).
EvalSummary evaluate_dataset_sharded(const EvalInputs& checked, const DcsrNet* net, EvalOptions options);

}  // namespace dcsr
