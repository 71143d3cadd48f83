// attn_ring_bench: ring attention over MPI, timed. Run under mpiexec; rank 0 prints one JSON line:
//   mpiexec -np 2 attn_ring_bench --len 16384 --heads 8 --dim 128 --causal --sharding zigzag
// --single (with one rank) times the single-process flash kernel on the whole sequence instead,
// the baseline of the ring. FLOPs count the visible (query, key) pairs of the whole problem,
// 2·(D + Dv) each per head (2.5× that for the backward), summed over all ranks.
#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "attn/core/error.h"
#include "attn/core/peak_rss.h"
#include "attn/dist/abort_on_error.h"
#include "attn/dist/ring_attention.h"
#include "attn/kernels/attention.h"
#include "nlohmann/json.hpp"

namespace {

using attn::AttentionGrads;
using attn::AttentionParams;

struct Options {
  int64_t len = 4096, heads = 8, kv_heads = 0, dim = 128, batch = 1;
  bool causal = false, backward = false, single = false;
  std::string sharding = "zigzag";
  int reps = 3;
};

// One rank's tensors of the benchmark: Q, K, V, dout and the outputs of `rows` rows.
struct Tensors {
  std::vector<float> q, k, v, out, lse, dout, dq, dk, dv;
  AttentionParams params;
  AttentionGrads grads;
};

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = u(rng);
  return x;
}

Tensors make_tensors(const Options& o, int64_t rows, uint64_t seed) {
  const int64_t hkv = o.kv_heads > 0 ? o.kv_heads : o.heads;
  Tensors t;
  t.q = random_floats(o.batch * o.heads * rows * o.dim, seed + 1);
  t.k = random_floats(o.batch * hkv * rows * o.dim, seed + 2);
  t.v = random_floats(o.batch * hkv * rows * o.dim, seed + 3);
  t.out.resize(t.q.size());
  t.lse.resize(o.batch * o.heads * rows);
  AttentionParams& p = t.params;
  p.q = t.q.data();
  p.k = t.k.data();
  p.v = t.v.data();
  p.out = t.out.data();
  p.lse = t.lse.data();
  p.q_stride = p.out_stride = attn::bhld_strides(o.heads, rows, o.dim);
  p.k_stride = p.v_stride = attn::bhld_strides(hkv, rows, o.dim);
  p.lse_stride = {o.heads * rows, rows, 1, 0};
  p.batch = o.batch;
  p.q_heads = o.heads;
  p.kv_heads = hkv;
  p.q_len = p.kv_len = rows;
  p.head_dim = p.v_head_dim = o.dim;
  p.causal = o.causal;
  if (o.backward) {
    t.dout = random_floats(t.q.size(), seed + 4);
    t.dq.resize(t.q.size());
    t.dk.resize(t.k.size());
    t.dv.resize(t.v.size());
    t.grads = {t.dout.data(), p.q_stride, t.dq.data(), p.q_stride,
               t.dk.data(),   p.k_stride, t.dv.data(), p.k_stride};
  }
  return t;
}

// FLOPs of the whole problem (all ranks together).
double whole_flops(const Options& o) {
  AttentionParams p;
  p.batch = o.batch;
  p.q_len = p.kv_len = o.len;
  p.causal = o.causal;
  double pairs = 0;
  for (int64_t i = 0; i < o.len; ++i) {
    const attn::KeyRange r = attn::visible_keys(p, 0, i);
    pairs += static_cast<double>(r.end - r.begin);
  }
  const double forward = 2.0 * static_cast<double>(o.batch * o.heads) * pairs * 2.0 * o.dim;
  return o.backward ? 2.5 * forward : forward;
}

struct Run {
  double seconds, wait_seconds;
};

// One timed call on this rank.
Run run_once(const Options& o, Tensors& t, const attn::dist::Ring& ring) {
  if (o.single) {
    const double start = MPI_Wtime();
    if (o.backward) {
      attn::flash_attention_backward(t.params, t.grads);
    } else {
      attn::flash_attention_forward(t.params);
    }
    return {MPI_Wtime() - start, 0.0};
  }
  const attn::dist::RingStats s = o.backward
                                      ? attn::dist::ring_attention_backward(t.params, t.grads, ring)
                                      : attn::dist::ring_attention_forward(t.params, ring);
  return {s.seconds, s.wait_seconds};
}

int bench(const Options& o) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (o.single && ranks != 1) throw attn::Error("--single runs on one rank");
  const attn::dist::Ring ring{MPI_COMM_WORLD, attn::dist::parse_sharding(o.sharding.c_str())};
  attn::reset_peak_rss();
  Tensors t = make_tensors(o, o.len / ranks, 1000 * static_cast<uint64_t>(rank));
  if (o.backward) {  // out and lse for the backward
    Options forward = o;
    forward.backward = false;
    run_once(forward, t, ring);
  }
  run_once(o, t, ring);  // warm-up
  std::vector<double> ms;
  double seconds = 0, waited = 0;
  for (int r = 0; r < o.reps; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const Run run = run_once(o, t, ring);
    double slowest = run.seconds;
    MPI_Allreduce(MPI_IN_PLACE, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    ms.push_back(1e3 * slowest);
    seconds += run.seconds;
    waited += run.wait_seconds;
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  double wait_fraction = waited / seconds;
  std::vector<double> fractions(ranks), rss(ranks);
  const double my_rss = static_cast<double>(attn::peak_rss_bytes()) / (1024.0 * 1024.0);
  MPI_Gather(&wait_fraction, 1, MPI_DOUBLE, fractions.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Gather(&my_rss, 1, MPI_DOUBLE, rss.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank != 0) return 0;
  const nlohmann::json j = {
      {"case", o.single ? "single" : "ring"},
      {"pass", o.backward ? "backward" : "forward"},
      {"ranks", ranks},
      {"threads_per_rank", omp_get_max_threads()},
      {"sharding", o.single ? "none" : o.sharding},
      {"len", o.len},
      {"heads", o.heads},
      {"dim", o.dim},
      {"causal", o.causal},
      {"ms", median},
      {"ms_all", ms},
      {"gflops", whole_flops(o) / (median * 1e-3) * 1e-9},
      {"wait_fraction", *std::max_element(fractions.begin(), fractions.end())},
      {"wait_fraction_per_rank", fractions},
      {"peak_rss_mib_per_rank", rss},
  };
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  attn::dist::MpiSession mpi(&argc, &argv);
  Options o;
  CLI::App app{"Ring attention over MPI, timed"};
  app.add_option("--len", o.len, "sequence length L (all ranks together)");
  app.add_option("--heads", o.heads, "query heads");
  app.add_option("--kv-heads", o.kv_heads, "key/value heads (default: --heads)");
  app.add_option("--dim", o.dim, "head dimension");
  app.add_option("--batch", o.batch, "batch size");
  app.add_flag("--causal", o.causal, "causal mask");
  app.add_flag("--backward", o.backward, "time the backward instead of the forward");
  app.add_flag("--single", o.single, "the single-process flash kernel (one rank)");
  app.add_option("--sharding", o.sharding, "contiguous or zigzag");
  app.add_option("--reps", o.reps, "timed repetitions (the median is reported)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return mpi.rank() == 0 ? app.exit(e) : 1;
  }
  return attn::dist::run_or_abort(MPI_COMM_WORLD, [&] { return bench(o); });
}
