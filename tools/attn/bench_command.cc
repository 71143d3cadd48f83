// `attn bench`: the flash forward's speed as GFLOP/s and as a fraction of the FMA-loop peak
// measured in the same run (the machine's clock drifts, ratios within one run do not).
//
// Without --case it prints a table over L, D and causal; with --case it measures one case. With
// --json each measured case is one JSON object on its own line. The decode case also reports the
// bytes of K and V it reads per second against the memory read bandwidth measured in the run.
// The ring case runs under mpirun: ring attention over the job's ranks (bench_ring.h), reported
// by rank 0.

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "attn/core/peak_rss.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/yardstick.h"
#include "bench_cases.h"
#include "bench_ring.h"
#include "cli_kit.h"
#include "commands.h"
#include "mpi_world.h"

namespace attn::cli {

namespace {

struct BenchOptions {
  std::string case_name;  // empty: the table
  BenchShape shape;
  int threads = 0;  // 0: OMP_NUM_THREADS or every core; the count in effect once running
  int reps = 0;     // 0: adapt to the time of one run
  bool json = false;
  bool no_peak = false;
  // The ring case only.
  RingSharding sharding = RingSharding::kZigzag;
  bool backward = false;  // time the ring backward instead of the forward
};

// The yardsticks of this run; unset when --no-peak.
struct Peak {
  std::optional<double> gflops;      // full vectors of the active target
  std::optional<double> gflops_256;  // 256-bit vectors; 0 when the target has none
  std::optional<double> read_gbps;   // memory read bandwidth (decode only)
};

// Names of the decode options, for --kv-dtype and --layout and the JSON line.
const Choices<KvDtype> kKvDtypes = {
    {"f32", KvDtype::kF32}, {"f16", KvDtype::kF16}, {"bf16", KvDtype::kBF16}, {"q8", KvDtype::kQ8}};
const Choices<BackwardPlan> kPlans = {{"auto", BackwardPlan::kAuto},
                                      {"split", BackwardPlan::kSplit},
                                      {"fused", BackwardPlan::kFused}};
const Choices<KvLayout> kLayouts = {{"contiguous", KvLayout::kContiguous},
                                    {"paged", KvLayout::kPaged}};

// The sizes of the table: B=1, H=8, L in {512 … 4096}, D in {64, 128}, causal or not.
std::vector<BenchShape> table_shapes() {
  std::vector<BenchShape> shapes;
  for (int64_t len : {512, 1024, 2048, 4096}) {
    for (int64_t dim : {64, 128}) {
      for (bool causal : {false, true}) {
        shapes.push_back({.batch = 1,
                          .heads = 8,
                          .kv_heads = 8,
                          .len = len,
                          .kv_len = len,
                          .dim = dim,
                          .dim_v = dim,
                          .causal = causal});
      }
    }
  }
  return shapes;
}

// The case that is not in bench_cases(): it runs over the ranks of an MPI job.
constexpr const char* kRingCase = "ring";

// The case named `name` in bench_cases(); throws attn::Error for an unknown name.
BenchCaseFn find_case(const std::string& name) {
  for (const BenchCase& c : bench_cases()) {
    if (name == c.name) return c.measure;
  }
  detail::throw_error("--case: unknown case '", name, "'");
}

// Measures the yardsticks unless o.no_peak; the read bandwidth only when asked.
Peak measure_peak(const BenchOptions& o, bool with_256_bit, bool with_bandwidth = false) {
  Peak peak;
  if (o.no_peak) return peak;
  peak.gflops = fma_peak_gflops(o.threads);
  if (with_256_bit) peak.gflops_256 = fma_peak_avx2_gflops(o.threads);
  if (with_bandwidth) peak.read_gbps = read_bandwidth_gbps(o.threads);
  return peak;
}

// GFLOP/s as a fraction of a peak, when that peak was measured.
std::optional<double> fraction_of(std::optional<double> peak, double gflops) {
  if (!peak || *peak <= 0.0) return std::nullopt;
  return gflops / *peak;
}
std::optional<double> peak_fraction(const Peak& peak, double gflops) {
  return fraction_of(peak.gflops, gflops);
}

// A number, or JSON null when unset.
nlohmann::ordered_json number_or_null(std::optional<double> x) {
  return x ? nlohmann::ordered_json(*x) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json case_json(const std::string& name, const BenchShape& s,
                                 const BenchOptions& o, const Peak& peak, const Measurement& m) {
  nlohmann::ordered_json line = {
      {"case", name},
      {"batch", s.batch},
      {"heads", s.heads},
      {"kv_heads", s.kv_heads},
      {"len", s.len},
      {"kv_len", s.kv_len},
      {"dim", s.dim},
      {"dim_v", s.dim_v},
      {"causal", s.causal},
      {"dropout", s.dropout},
      {"dtype", choice_name(kElementTypes, s.dtype)},
      {"threads", o.threads},
      {"reps", m.reps},
      {"ms", m.ms},
      {"gflops", m.gflops},
      {"peak_rss_mib", m.peak_rss_mib},
      {"fma_peak_gflops", number_or_null(peak.gflops)},
      {"peak_fraction", number_or_null(peak_fraction(peak, m.gflops))},
      {"fma_peak_256_gflops", number_or_null(peak.gflops_256)},
      {"peak_fraction_256", number_or_null(fraction_of(peak.gflops_256, m.gflops))},
      {"simd_target", active_simd_target()},
  };
  if (name == "varlen" || name == "varlen-backward") {
    line["short_sequences"] = kVarlenShortCount;
    line["padded_ms"] = m.padded_ms;
    line["alone_ms"] = m.alone_ms;
  }
  if (name == "decode") {
    line["kv_dtype"] = choice_name(kKvDtypes, s.kv_dtype);
    line["layout"] = choice_name(kLayouts, s.layout);
    line["block_tokens"] = s.block_tokens;
    line["kv_gbps"] = m.kv_gbps;
    line["read_bw_gbps"] = number_or_null(peak.read_gbps);
    line["bw_fraction"] = number_or_null(fraction_of(peak.read_gbps, m.kv_gbps));
  }
  if (name == "backward" || name == "varlen-backward") line["plan"] = choice_name(kPlans, s.plan);
  return line;
}

// "312.4 GFLOP/s", or "not measured".
std::string gflops_text(std::optional<double> gflops) {
  if (!gflops) return "not measured";
  if (*gflops <= 0.0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GFLOP/s", *gflops);
  return text;
}

void print_table_header(const BenchOptions& o, const Peak& peak) {
  const std::string target = active_simd_target();
  std::printf("attn bench: flash forward, fp32, B=1 H=8 Lq=Lk=L, %d threads, SIMD target %s\n",
              o.threads, target.c_str());
  std::printf("FMA-loop peak: %s (%s vectors), %s (256-bit vectors)\n",
              gflops_text(peak.gflops).c_str(), target.c_str(),
              gflops_text(peak.gflops_256).c_str());
  std::printf(
      "GFLOP/s counts 2*(D+Dv) per unmasked query-key pair; 'of peak' is against the %s "
      "figure, 'of 256b' against the 256-bit one\n\n",
      target.c_str());
  std::printf("%6s %5s %7s %10s %9s %8s %9s %9s\n", "L", "D", "causal", "ms", "GFLOP/s", "of peak",
              "of 256b", "peak MiB");
}

std::string table_row(const BenchShape& s, const Peak& peak, const Measurement& m) {
  const std::optional<double> fraction = peak_fraction(peak, m.gflops);
  const std::optional<double> fraction_256 = fraction_of(peak.gflops_256, m.gflops);
  char of_peak[16] = "-", of_256[16] = "-";
  if (fraction) std::snprintf(of_peak, sizeof of_peak, "%.1f%%", 100.0 * *fraction);
  if (fraction_256) std::snprintf(of_256, sizeof of_256, "%.1f%%", 100.0 * *fraction_256);
  return format("%6lld %5lld %7s %10.3f %9.1f %8s %9s %9.1f", static_cast<long long>(s.len),
                static_cast<long long>(s.dim), s.causal ? "yes" : "no", m.ms, m.gflops, of_peak,
                of_256, m.peak_rss_mib);
}

// The table of the flash forward over table_shapes().
void run_table(const BenchOptions& o) {
  const Peak peak = measure_peak(o, /*with_256_bit=*/true);
  const Reporter out(o.json);
  if (!o.json) print_table_header(o, peak);
  for (const BenchShape& shape : table_shapes()) {
    const Measurement m = measure_forward(shape, o.reps);
    out.result(case_json("forward", shape, o, peak, m), table_row(shape, peak, m));
  }
}

// The decode case in words: time per step, GFLOP/s, and K/V bytes per second.
std::string decode_text(const BenchOptions& o, const Peak& peak, const Measurement& m) {
  const BenchShape& s = o.shape;
  const std::optional<double> fraction = fraction_of(peak.read_gbps, m.kv_gbps);
  char bw[64] = "read bandwidth not measured";
  if (fraction)
    std::snprintf(bw, sizeof bw, "%.2f of %.1f GB/s read bandwidth", *fraction, *peak.read_gbps);
  return format(
      "decode B=%lld Hq=%lld Hkv=%lld n_q=%lld Lk=%lld D=%lld Dv=%lld %s %s threads=%d "
      "target=%s: %.3f ms per step, %.1f GFLOP/s, %.1f GB/s of K/V (%s), %.1f MiB peak memory",
      static_cast<long long>(s.batch), static_cast<long long>(s.heads),
      static_cast<long long>(s.kv_heads), static_cast<long long>(s.len),
      static_cast<long long>(s.kv_len), static_cast<long long>(s.dim),
      static_cast<long long>(s.dim_v), choice_name(kKvDtypes, s.kv_dtype).c_str(),
      choice_name(kLayouts, s.layout).c_str(), o.threads, active_simd_target().c_str(), m.ms,
      m.gflops, m.kv_gbps, bw, m.peak_rss_mib);
}

// A forward or backward case in words: time, GFLOP/s and the fraction of the FMA peak.
std::string case_text(const BenchOptions& o, const Peak& peak, const Measurement& m) {
  const std::optional<double> fraction = peak_fraction(peak, m.gflops);
  const BenchShape& s = o.shape;
  return format(
      "%s B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld causal=%s dropout=%g dtype=%s "
      "threads=%d target=%s: %.3f ms, %.1f GFLOP/s, %.1f%% of %s FMA peak, %.1f MiB peak memory",
      o.case_name.c_str(), static_cast<long long>(s.batch), static_cast<long long>(s.heads),
      static_cast<long long>(s.kv_heads), static_cast<long long>(s.len),
      static_cast<long long>(s.kv_len), static_cast<long long>(s.dim),
      static_cast<long long>(s.dim_v), s.causal ? "yes" : "no", s.dropout,
      choice_name(kElementTypes, s.dtype).c_str(), o.threads, active_simd_target().c_str(), m.ms,
      m.gflops, fraction ? 100.0 * *fraction : 0.0, gflops_text(peak.gflops).c_str(),
      m.peak_rss_mib);
}

// The varlen case adds its yardsticks: the padded batch and the sequences one at a time.
std::string varlen_text(const Measurement& m) {
  return format(
      "; %lld sequences of Lk beside one of Lq: padded batch %.3f ms (packed takes %.2fx its "
      "time), each sequence alone %.3f ms (%.2fx)",
      static_cast<long long>(kVarlenShortCount), m.padded_ms, m.ms / m.padded_ms, m.alone_ms,
      m.ms / m.alone_ms);
}

// One case named by --case.
void run_case(const BenchOptions& o) {
  const BenchCaseFn measure = find_case(o.case_name);
  const bool decode = o.case_name == "decode";
  const Peak peak = measure_peak(o, /*with_256_bit=*/true, /*with_bandwidth=*/decode);
  const Measurement m = measure(o.shape, o.reps);
  std::string text = decode ? decode_text(o, peak, m) : case_text(o, peak, m);
  if (o.case_name.starts_with("varlen")) text += varlen_text(m);
  Reporter(o.json).result(case_json(o.case_name, o.shape, o, peak, m), text);
}

nlohmann::ordered_json ring_json(const BenchOptions& o, const RingMeasurement& m) {
  const BenchShape& s = o.shape;
  return {
      {"case", kRingCase},
      {"pass", o.backward ? "backward" : "forward"},
      {"ranks", m.ranks},
      {"threads_per_rank", o.threads},
      {"sharding", choice_name(kRingShardings, o.sharding)},
      {"batch", s.batch},
      {"heads", s.heads},
      {"kv_heads", s.kv_heads},
      {"len", s.len},
      {"dim", s.dim},
      {"dim_v", s.dim_v},
      {"causal", s.causal},
      {"dropout", s.dropout},
      {"reps", m.reps},
      {"ms", m.ms},
      {"gflops", m.gflops},
      {"wait_fraction", m.wait_fraction()},
      {"wait_fraction_per_rank", m.wait_fraction_per_rank},
      {"peak_rss_mib_per_rank", m.peak_rss_mib_per_rank},
      {"simd_target", active_simd_target()},
  };
}

std::string ring_text(const BenchOptions& o, const RingMeasurement& m) {
  const BenchShape& s = o.shape;
  std::string rss;
  for (double mib : m.peak_rss_mib_per_rank) rss += format(" %.1f", mib);
  return format(
      "ring %s B=%lld Hq=%lld Hkv=%lld L=%lld D=%lld Dv=%lld causal=%s dropout=%g %s P=%d "
      "threads/rank=%d target=%s: %.3f ms, %.1f GFLOP/s over all ranks, %.1f%% of the time "
      "waiting on messages (worst rank), peak memory per rank (MiB):%s",
      o.backward ? "backward" : "forward", static_cast<long long>(s.batch),
      static_cast<long long>(s.heads), static_cast<long long>(s.kv_heads),
      static_cast<long long>(s.len), static_cast<long long>(s.dim), static_cast<long long>(s.dim_v),
      s.causal ? "yes" : "no", s.dropout, choice_name(kRingShardings, o.sharding).c_str(), m.ranks,
      o.threads, active_simd_target().c_str(), m.ms, m.gflops, 100.0 * m.wait_fraction(),
      rss.c_str());
}

// The ring case: checks that it runs in an MPI job, measures, and reports from rank 0.
void run_ring_case(const BenchOptions& o) {
  check_usage(built_with_mpi(), "--case ring needs attn built with MPI (attn_dist)");
  check_usage(world().in_mpi_job,
              "--case ring runs under mpirun: mpirun -np P attn bench --case ring ... (its "
              "single-process baseline is --case forward or backward with the same sizes)");
  check_usage(o.shape.kv_len == o.shape.len,
              "--case ring: --kv-len must equal --len (one sequence, cut among the ranks)");
  const RingMeasurement m = measure_ring(o.shape, o.sharding, o.backward, o.reps);
  if (world().leads()) Reporter(o.json).result(ring_json(o, m), ring_text(o, m));
}

void run_bench(BenchOptions& o, const CLI::App& cmd) {
  o.threads = use_threads(o.threads);
  const bool ring = o.case_name == kRingCase;
  check_usage(ring || !world().distributed(), "under mpirun with ", world().size,
              " ranks attn bench runs only --case ring (the other cases time one process)");
  check_usage(ring || (cmd.count("--sharding") == 0 && cmd.count("--backward") == 0),
              "--sharding and --backward apply to --case ring only");
  check_usage(cmd.count("--dtype") == 0 || o.case_name == "forward" || o.case_name == "backward",
              "--dtype applies to --case forward and backward (decode takes --kv-dtype)");
  if (o.case_name.empty()) return run_table(o);
  BenchShape& s = o.shape;
  if (cmd.count("--len") == 0) {
    check_usage(o.case_name == "decode", "--case ", o.case_name, " needs --len");
    s.len = 1;  // one new token per sequence
  }
  check_usage(o.case_name != "decode" || cmd.count("--kv-len") > 0,
              "--case decode needs --kv-len (cached tokens per sequence)");
  if (cmd.count("--kv-heads") == 0) s.kv_heads = s.heads;
  if (cmd.count("--kv-len") == 0) s.kv_len = o.case_name.starts_with("varlen") ? 64 : s.len;
  if (cmd.count("--dim-v") == 0) s.dim_v = s.dim;
  check_usage(s.heads % s.kv_heads == 0, "--heads ", s.heads, " is not a multiple of --kv-heads ",
              s.kv_heads);
  if (ring) return run_ring_case(o);
  run_case(o);
}

// Case names for --case's help and check.
std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const BenchCase& c : bench_cases()) names.emplace_back(c.name);
  names.emplace_back(kRingCase);
  return names;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Time the kernels: a table of the flash forward, or one case with --case. --case ring runs "
      "under mpirun -np P: ring attention over the ranks (len = the whole sequence), reporting "
      "ms, GFLOP/s over all ranks, the fraction of time waiting on messages (worst rank) and "
      "each rank's peak memory.");
  CLI::Option* case_option =
      one_of(cmd->add_option("--case", o->case_name, "one case to measure"), case_names());
  BenchShape& s = o->shape;
  const auto size = [&](const char* name, int64_t& value, const char* help) {
    at_least(cmd->add_option(name, value, help), 1)->needs(case_option);
  };
  size("--batch", s.batch, "batch size B (default 1)");
  size("--heads", s.heads, "query heads Hq (default 8)");
  size("--kv-heads", s.kv_heads, "key/value heads Hkv (default Hq)");
  size("--len", s.len,
       "query length Lq (ring: of the whole sequence; decode: new tokens per sequence, default 1; "
       "varlen: the long sequence)");
  size("--kv-len", s.kv_len,
       "key length Lk (default Lq; decode: cached tokens per sequence; varlen: each of the 60 "
       "short sequences, default 64)");
  size("--dim", s.dim, "head dim D of Q and K (default 64)");
  size("--dim-v", s.dim_v, "head dim Dv of V (default D)");
  cmd->add_flag("--causal", s.causal, "causal mask, bottom-right aligned")->needs(case_option);
  probability(cmd->add_option("--dropout", s.dropout, "forward, backward: attention dropout"))
      ->needs(case_option);
  add_choice_option(*cmd, "--plan", s.plan, kPlans,
                    "backward: how the work is divided (default auto)")
      ->needs(case_option);
  add_choice_option(*cmd, "--dtype", s.dtype, kElementTypes,
                    "forward, backward: type of q, k, v, out and dout (default f32)")
      ->needs(case_option);
  add_choice_option(*cmd, "--kv-dtype", s.kv_dtype, kKvDtypes,
                    "decode: storage dtype of the cache (default f32)")
      ->needs(case_option);
  add_choice_option(*cmd, "--layout", s.layout, kLayouts,
                    "decode: cache layout (default contiguous)")
      ->needs(case_option);
  size("--block-tokens", s.block_tokens, "decode, paged: tokens per block (default 16)");
  add_sharding_option(*cmd, o->sharding, "ring: how the sequence is cut among the ranks")
      ->needs(case_option);
  cmd->add_flag("--backward", o->backward,
                "ring: time the ring backward (after one untimed forward) instead of the forward")
      ->needs(case_option);
  add_threads_option(*cmd, o->threads);
  at_least(cmd->add_option("--reps", o->reps, "timed runs per case (default: fit ~2.5 s)"), 1);
  add_json_flag(*cmd, o->json, "one JSON object per case and line");
  cmd->add_flag("--no-peak", o->no_peak, "skip the FMA-loop peak and read-bandwidth measurements");
  cmd->callback([o, cmd] { run_bench(*o, *cmd); });
}

}  // namespace attn::cli
