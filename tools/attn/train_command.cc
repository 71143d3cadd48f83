// `attn train`: trains the GPT on a byte corpus, with a progress bar on stderr (or plain lines
// there, or JSON lines on stdout), periodic validation, atomic checkpoints, and the loss curve as
// CSV and PNG beside the checkpoint (OUT.loss.csv, OUT.loss.png).
//
// Under mpirun (when built with attn_dist) the run is data-parallel: each rank computes its
// micro-batches of every step's batch and the gradients are summed across the ranks in a fixed
// order, so the losses are bitwise those of one process run with --micro-batches P. Rank 0 alone
// evaluates, prints and writes the checkpoint and the curve. With --sequence-parallel each rank
// holds a contiguous 1/P of every sequence's positions instead, and attention runs as ring
// attention across the ranks.
#include <malloc.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/gpt/gpt_trainer.h"
#include "apps/gpt/presets.h"
#include "attn/core/atomic_file.h"
#include "attn/core/data_path.h"
#include "attn/core/error.h"
#include "attn/nn/attention_precision.h"
#include "attn/nn/matmul_precision.h"
#include "attn/train/progress.h"
#include "attn/train/text_dataset.h"
#include "attn/viz/line_chart.h"
#include "cli_kit.h"
#include "commands.h"
#include "mpi_world.h"

#ifdef ATTN_WITH_DIST
#include <mpi.h>

#include "attn/dist/data_parallel.h"
#include "attn/dist/ring_runner.h"
#endif

namespace attn::cli {

namespace {

struct TrainArgs {
  std::string preset = "default";
  std::string config;  // JSON file: {"model": {...}, "train": {...}}
  std::string data;    // empty: moby_dick.txt of the data folder
  std::string out;
  std::string resume;
  std::optional<int64_t> steps;
  std::optional<double> time_limit;
  std::optional<uint64_t> seed;
  std::optional<int64_t> micro_batches;
  nn::MatmulPrecision precision = nn::MatmulPrecision::kFp32;  // of the Linear products
  int threads = 0;
  bool json = false;
  bool sequence_parallel = false;  // shard every sequence's positions across the ranks
  bool pack_documents = false;
};

// One row of the loss curve.
struct LossPoint {
  int64_t step;
  float loss;
  std::optional<float> val_loss;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  ATTN_CHECK(in.good(), path, ": cannot open the config file");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The model and training options: the preset, then the config file, then the flags.
apps::GptPreset resolve(const TrainArgs& a) {
  apps::GptPreset p = apps::gpt_preset(a.preset);
  if (!a.config.empty()) {
    const nlohmann::json j = nlohmann::json::parse(read_text(a.config), nullptr, false);
    ATTN_CHECK(j.is_object(), a.config, ": not a JSON object");
    try {
      if (j.contains("model")) p.model = model::GptConfig::from_json(j["model"].dump());
      if (j.contains("train")) p.train = train::TrainOptions::from_json(j["train"].dump(), p.train);
    } catch (const Error& e) {
      throw Error(a.config + ": " + e.what());
    }
  }
  if (a.steps) p.train.steps = *a.steps;
  if (a.time_limit) p.train.time_limit = *a.time_limit;
  if (a.seed) p.train.seed = *a.seed;
  if (a.micro_batches) p.train.micro_batches = *a.micro_batches;
  ATTN_CHECK(p.train.steps > 0, "--steps must be positive, got ", p.train.steps);
  return p;
}

// The batch must share out evenly: into the micro-batches, and those among the ranks; sequence
// parallel, the context into one shard per rank.
void check_shares(const apps::GptPreset& p, bool sequence_parallel) {
  const train::TrainOptions& t = p.train;
  const int64_t ranks = world().size, batch = t.batch;
  if (sequence_parallel) {
    check_usage(built_with_mpi(), "--sequence-parallel needs attn built with MPI (attn_dist)");
    check_usage(t.micro_batches == 0 || t.micro_batches == ranks,
                "--sequence-parallel takes one micro-batch per rank, not ", t.micro_batches);
    check_usage(p.model.context % ranks == 0, "the context of ", p.model.context,
                " tokens does not divide among ", ranks, " ranks");
    return;
  }
  if (t.micro_batches == 0) {
    check_usage(batch % ranks == 0, "the batch of ", batch, " sequences does not divide among ",
                ranks, " ranks");
    return;
  }
  check_usage(t.micro_batches % ranks == 0, "--micro-batches = ", t.micro_batches,
              " does not divide among ", ranks, " ranks");
  check_usage(batch % t.micro_batches == 0, "the batch of ", batch,
              " sequences does not divide into ", t.micro_batches, " micro-batches");
}

// The workers of a data-parallel run: the ranks of the MPI job; none in a single process.
std::unique_ptr<train::GradientReducer> make_workers() {
#ifdef ATTN_WITH_DIST
  if (world().distributed()) return std::make_unique<dist::MpiGradientReducer>(MPI_COMM_WORLD);
#endif
  return nullptr;
}

// Ring attention across the ranks of a sequence-parallel run; none in a single process.
std::unique_ptr<nn::AttentionRunner> make_ring(bool sequence_parallel) {
#ifdef ATTN_WITH_DIST
  if (sequence_parallel && world().distributed()) {
    return std::make_unique<dist::RingAttentionRunner>(
        dist::Ring{MPI_COMM_WORLD, dist::Sharding::kContiguous});
  }
#endif
  (void)sequence_parallel;
  return nullptr;
}

// Rows "step,loss,val_loss" written atomically beside the checkpoint.
void write_curve(const std::string& path, const std::vector<LossPoint>& points) {
  std::ostringstream csv;
  csv << "step,loss,val_loss\n";
  for (const LossPoint& p : points) {
    csv << p.step << ',' << p.loss << ',';
    if (p.val_loss) csv << *p.val_loss;
    csv << '\n';
  }
  AtomicFile file(path);
  const std::string text = csv.str();
  file.write(text.data(), text.size());
  file.commit();
}

// The loss curve as a PNG chart: training loss every step, validation loss where measured.
void draw_curve(const std::string& path, const std::vector<LossPoint>& points) {
  viz::Series train{"training loss", {}, {}}, val{"validation loss", {}, {}};
  for (const LossPoint& p : points) {
    train.x.push_back(double(p.step));
    train.y.push_back(p.loss);
    if (p.val_loss) {
      val.x.push_back(double(p.step));
      val.y.push_back(*p.val_loss);
    }
  }
  viz::LineChartOptions options;
  options.title = "GPT training on the corpus";
  options.x_label = "step";
  options.y_label = "cross-entropy (nats per byte)";
  std::vector<viz::Series> series = {train};
  if (!val.x.empty()) series.push_back(val);
  viz::draw_line_chart(series, options, path);
}

// The rows of an earlier run's curve up to `step`, so a resumed run continues the same file.
std::vector<LossPoint> read_curve(const std::string& path, int64_t step) {
  std::vector<LossPoint> points;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    LossPoint p{};
    char comma = 0;
    std::istringstream row(line);
    if (!(row >> p.step >> comma >> p.loss >> comma) || p.step > step) continue;
    float val = 0;
    if (row >> val) p.val_loss = val;
    points.push_back(p);
  }
  return points;
}

// Applies --precision to the matrix products and to attention. bf16 attention runs on every CPU;
// the bf16 products need bf16 instructions and fall back to fp32 (with a note) without them.
void apply_precision(const TrainArgs& a) {
  nn::set_matmul_precision(a.precision);
  nn::set_attention_precision(a.precision == nn::MatmulPrecision::kBf16
                                  ? nn::AttentionPrecision::kBf16
                                  : nn::AttentionPrecision::kFp32);
  if (a.precision != nn::matmul_precision() && world().leads()) {
    progress(
        "note: this CPU has no bf16 instructions; the matrix products run in fp32, attention in "
        "bf16\n");
  }
}

// Every step allocates and frees the same activation buffers (up to tens of MiB each): keep
// them in the heap rather than mapping fresh, zero-filled pages from the kernel every time.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void run_train(const TrainArgs& a) {
  keep_freed_memory();
  use_threads(a.threads);
  apply_precision(a);
  const apps::GptPreset setup = resolve(a);
  check_shares(setup, a.sequence_parallel);
  check_usage(!a.pack_documents ||
                  (world().size == 1 && !a.sequence_parallel && setup.train.micro_batches <= 1),
              "--pack-documents trains one part per step: not under mpirun, with "
              "--sequence-parallel or with --micro-batches");
  const std::string corpus = a.data.empty() ? data_path("moby_dick.txt") : a.data;
  // Every rank reads the corpus and the checkpoint; a bad one is reported once for the job.
  std::optional<train::TextDataset> corpus_data;
  run_on_every_rank([&] {
    corpus_data.emplace(train::TextDataset::from_file(corpus, 0.05, setup.model.context + 1));
  });
  const train::TextDataset& data = *corpus_data;
  const std::unique_ptr<train::GradientReducer> workers = make_workers();
  const std::unique_ptr<nn::AttentionRunner> ring = make_ring(a.sequence_parallel);
  apps::GptTrainer trainer(setup.model, setup.train, data, workers.get(), ring.get(),
                           a.pack_documents);
  if (!a.resume.empty()) run_on_every_rank([&] { trainer.resume(a.resume); });
  const bool leads = world().leads();
  const std::string curve_path = a.out + ".loss.csv";
  std::vector<LossPoint> curve = a.resume.empty()
                                     ? std::vector<LossPoint>{}
                                     : read_curve(a.resume + ".loss.csv", trainer.step());
  const Reporter out(a.json);
  train::ProgressPrinter progress({.total_steps = setup.train.steps, .json = a.json});
  trainer.run(a.out, [&](const train::StepReport& r) {
    if (!leads) return;
    std::optional<float> val_loss;
    if (r.eval) val_loss = static_cast<float>(r.eval->loss);
    curve.push_back({r.step, r.loss, val_loss});
    if (r.eval) {
      write_curve(curve_path, curve);
      draw_curve(a.out + ".loss.png", curve);
    }
    progress(r);
  });
  if (!leads) return;
  progress.finish();
  const train::StepReport& last = progress.last();
  std::optional<double> last_val;
  if (progress.last_eval()) last_val = progress.last_eval()->loss;
  nlohmann::ordered_json j = {{"done", true},
                              {"step", trainer.step()},
                              {"tokens_per_s", last.tokens_per_s},
                              {"precision", nn::to_string(nn::matmul_precision())},
                              {"attention_precision", nn::to_string(nn::attention_precision())}};
  if (last_val) j["val_loss"] = *last_val;
  if (world().distributed()) j["ranks"] = world().size;
  out.result(j, format("trained %lld steps: val_loss %.4f nats/byte, %.0f tokens/s; saved %s",
                       static_cast<long long>(trainer.step()), last_val.value_or(NAN),
                       last.tokens_per_s, a.out.c_str()));
}

// The names of --preset.
std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const apps::GptPreset& p : apps::gpt_presets()) names.push_back(p.name);
  return names;
}

const Choices<nn::MatmulPrecision> kPrecisions = {{"fp32", nn::MatmulPrecision::kFp32},
                                                  {"bf16", nn::MatmulPrecision::kBf16}};

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train the byte-level GPT on a text corpus");
  one_of(cmd->add_option("--preset", args->preset, "named set-up")->capture_default_str(),
         preset_names());
  cmd->add_option("--config", args->config, "JSON file {\"model\": {...}, \"train\": {...}}");
  cmd->add_option("--data", args->data, "UTF-8 text corpus (default: moby_dick.txt, data folder)");
  at_least(cmd->add_option("--steps", args->steps, "total training steps (also when resuming)"), 1);
  at_least(
      cmd->add_option("--time-limit", args->time_limit, "stop (and save) after this many seconds"),
      0);
  add_seed_option(*cmd, args->seed, "seed of initialisation, batches and dropout");
  at_least(cmd->add_option("--micro-batches", args->micro_batches,
                           "equal parts of each batch whose gradients are summed in order "
                           "(default: 1, or one per rank under mpirun)"),
           1);
  add_out_option(*cmd, args->out, "checkpoint to write (.safetensors)");
  cmd->add_option("--resume", args->resume, "checkpoint to continue from");
  add_choice_option(*cmd, "--precision", args->precision, kPrecisions,
                    "of the linear layers' matrix products and of attention (default fp32); "
                    "bf16: bf16 inputs, fp32 accumulation; the products need AMX or "
                    "AVX512-BF16 (else fp32), attention runs bf16 on every CPU");
  cmd->add_flag("--sequence-parallel", args->sequence_parallel,
                "under mpirun: each rank holds 1/P of every sequence's positions, attention runs "
                "as ring attention (default: each rank holds 1/P of the batch's sequences)");
  cmd->add_flag("--pack-documents", args->pack_documents,
                "train on documents of different lengths packed end to end (each step the "
                "same tokens), attention within each document; give it again when resuming");
  add_threads_option(*cmd, args->threads);
  add_json_flag(*cmd, args->json, "one JSON object per step, then one with the result");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace attn::cli
