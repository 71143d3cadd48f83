// A two-rank job in which rank 1 fails while rank 0 waits for it: the job must end with one clear
// message, never hang. Modes: throw (an exception), bad_input (ring attention rejects rank 1's
// params), kill (rank 1 dies of SIGKILL), train (rank 1's training step throws while rank 0 waits
// in the gradient sum).
#include <csignal>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/dist/abort_on_error.h"
#include "attn/dist/data_parallel.h"
#include "attn/dist/ring_attention.h"
#include "attn/train/training_loop.h"

namespace {

// A small ring forward in which rank 1 claims a different query length than its key length.
void ring_with_bad_input(int rank) {
  const int64_t rows = 8, dim = 4;
  std::vector<float> x(rows * dim, 0.5f), out(rows * dim);
  attn::AttentionParams p;
  p.q = p.k = p.v = x.data();
  p.q_stride = p.k_stride = p.v_stride = p.out_stride = attn::bhld_strides(1, rows, dim);
  p.out = out.data();
  p.batch = p.q_heads = p.kv_heads = 1;
  p.q_len = rank == 1 ? rows / 2 : rows;
  p.kv_len = rows;
  p.head_dim = p.v_head_dim = dim;
  attn::dist::ring_attention_forward(p, attn::dist::Ring{MPI_COMM_WORLD});
}

// One parameter pulled towards 1; rank 1's step 3 fails.
class FailingTask : public attn::train::TrainingTask {
 public:
  explicit FailingTask(int rank) : rank_(rank) {}
  std::vector<attn::nn::Parameter> parameters() override {
    return {{.name = "w", .value = &w_, .grad = &grad_, .shape = {1}, .size = 1}};
  }
  attn::train::StepLoss train_step(int64_t step, attn::train::BatchPart) override {
    if (rank_ == 1 && step == 3) throw attn::Error("injected failure in step 3");
    grad_ += 2.0f * (w_ - 1.0f);
    return {(w_ - 1.0f) * (w_ - 1.0f), 1};
  }
  bool splits_batch() const override { return true; }
  attn::train::Evaluation evaluate() override { return {0.0, {}}; }
  attn::Metadata checkpoint_metadata() override { return {{"kind", "failing"}}; }
  void restore(const attn::SafetensorsFile&, const std::string&) override {}

 private:
  int rank_;
  float w_ = 0.0f, grad_ = 0.0f;
};

void train_until_rank_1_fails(int rank) {
  FailingTask task(rank);
  attn::dist::MpiGradientReducer workers(MPI_COMM_WORLD);
  attn::train::LoopOptions options;
  options.steps = 10;
  attn::train::TrainingLoop loop(task, options, &workers);
  loop.run("", [](const attn::train::StepReport&) {});
}

}  // namespace

int main(int argc, char** argv) {
  attn::dist::MpiSession mpi(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "throw";
  return attn::dist::run_or_abort(MPI_COMM_WORLD, [&] {
    const int rank = mpi.rank();
    if (mode == "bad_input") {
      ring_with_bad_input(rank);
      return 0;
    }
    if (mode == "train") {
      train_until_rank_1_fails(rank);
      return 0;
    }
    if (rank == 1) {
      if (mode == "kill") std::raise(SIGKILL);
      throw attn::Error("injected failure");
    }
    int token = 0;  // rank 0 waits for a message that never comes
    MPI_Recv(&token, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return 0;
  });
}
