// Register-blocked tile GEMM with the output's columns in SIMD lanes, per SIMD target.
//
//   C[r][0 .. n) (+)= Σ_k A[r·a_row + k·a_k] · B[k·b_row + 0 .. n)      for r < m
//
// A is read one element at a time and broadcast, so it may have any strides (K rows for the
// scores, V columns for the output); B and C are packed tiles whose rows are padded to whole
// vectors and aligned. Both GEMMs of the flash forward are of this shape:
//   Sᵀ[key][query]  = Σ_d K[key][d] · Qᵀ[d][query]
//   Oᵀ[dv][query] += Σ_key V[key][dv] · Pᵀ[key][query]
#if defined(ATTN_KERNELS_TILE_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_TILE_GEMM_INL_H_
#undef ATTN_KERNELS_TILE_GEMM_INL_H_
#else
#define ATTN_KERNELS_TILE_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Micro-kernel shape: kRows broadcast rows × kVecs vectors of columns held in registers, and the
// query tile of the flash kernels, a whole number of kVecs-vector blocks (docs/KERNELS.md).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kRows = 6;
constexpr int kVecs = 4;  // 24 accumulators of 32 registers
constexpr int64_t kQueryTile = 64;
#else
constexpr int kRows = 4;
constexpr int kVecs = 3;  // 12 accumulators of 16 registers
constexpr int64_t kQueryTile = 96;
#endif
constexpr int64_t kKeyTile = 64;

// Operands of one tile GEMM (see the file comment); filled with designated initialisers.
struct GemmArgs {
  const float* a;   // A[r][k] at a[r·a_row + k·a_k]: any strides, read one element at a time
  int64_t a_row;    // stride of A between rows r
  int64_t a_k;      // stride of A along k
  const float* b;   // B[k][0 .. n): aligned rows of b_row floats
  int64_t b_row;    // stride of B between rows k
  int64_t depth;    // k runs over [0, depth)
  float* c;         // C[r][0 .. n): aligned rows of c_row floats
  int64_t c_row;    // stride of C between rows r
  bool accumulate;  // true: C += A·B; false: C = A·B
  // With accumulate, optional: C[r][·] is first multiplied by c_scale[·] (aligned, one factor
  // per column), C = C ∘ c_scale + A·B, where the accumulators are loaded: the flash forward's
  // rescale of Oᵀ without a pass of its own over the tile.
  const float* c_scale = nullptr;
  // 0: each element of C is one chain of fused multiply-adds over k. n > 0: chains of n terms,
  // each from zero (the first from C when accumulating), added in order: the rounding error
  // grows as √(depth·n) + depth/√n instead of depth (the backward's scores, docs/KERNELS.md), for
  // one store and one add per chain and accumulator.
  int64_t depth_chunk = 0;
};

// acc[r][v] += Σ_{k0 ≤ k < k1} A[r][k] · B[k][v·N ..), one chain of fused multiply-adds each.
template <int R, int C>
HWY_INLINE void AddProducts(const GemmArgs& g, const float* HWY_RESTRICT a,
                            const float* HWY_RESTRICT b, int64_t k0, int64_t k1, VF (&acc)[R][C]) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int64_t k = k0; k < k1; ++k) {
    VF bv[C];
    for (int v = 0; v < C; ++v) bv[v] = hn::Load(df, b + k * g.b_row + v * N);
    for (int r = 0; r < R; ++r) {
      const VF av = hn::Set(df, a[r * g.a_row + k * g.a_k]);
      for (int v = 0; v < C; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
}

// C[r][v·N ..) = acc[r][v].
template <int R, int C>
HWY_INLINE void StoreTile(const GemmArgs& g, const VF (&acc)[R][C], float* HWY_RESTRICT c) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < C; ++v) hn::Store(acc[r][v], df, c + r * g.c_row + v * N);
  }
}

template <int R, int C>
HWY_INLINE void MicroKernel(const GemmArgs& g, int64_t r0, int64_t col0) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const float* HWY_RESTRICT a = g.a + r0 * g.a_row;
  const float* HWY_RESTRICT b = g.b + col0;
  float* HWY_RESTRICT c = g.c + r0 * g.c_row + col0;
  const float* HWY_RESTRICT c_scale = g.c_scale ? g.c_scale + col0 : nullptr;
  VF acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < C; ++v) {
      if (!g.accumulate) {
        acc[r][v] = hn::Zero(df);
      } else if (c_scale) {
        acc[r][v] = hn::Mul(hn::Load(df, c + r * g.c_row + v * N), hn::Load(df, c_scale + v * N));
      } else {
        acc[r][v] = hn::Load(df, c + r * g.c_row + v * N);
      }
    }
  }
  const int64_t chunk = g.depth_chunk > 0 ? g.depth_chunk : g.depth;
  AddProducts<R, C>(g, a, b, 0, std::min(g.depth, chunk), acc);
  // Each further chain starts from zero while the sum so far waits in C, then joins it.
  for (int64_t k0 = chunk; k0 < g.depth; k0 += chunk) {
    StoreTile<R, C>(g, acc, c);
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < C; ++v) acc[r][v] = hn::Zero(df);
    }
    AddProducts<R, C>(g, a, b, k0, std::min(g.depth, k0 + chunk), acc);
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < C; ++v)
        acc[r][v] = hn::Add(hn::Load(df, c + r * g.c_row + v * N), acc[r][v]);
    }
  }
  StoreTile<R, C>(g, acc, c);
}

// Runs the micro-kernel with `rows` (≤ R; fewer at the edge) rows and C vectors.
template <int C, int R = kRows>
HWY_INLINE void MicroKernelRows(const GemmArgs& g, int64_t r0, int64_t rows, int64_t col0) {
  if constexpr (R == 1) {
    MicroKernel<1, C>(g, r0, col0);
  } else {
    if (rows == R) return MicroKernel<R, C>(g, r0, col0);
    MicroKernelRows<C, R - 1>(g, r0, rows, col0);
  }
}

// C[0 .. m)[0 .. vecs·N) (+)= A·B, in kRows × kVecs register blocks.
HWY_INLINE void TileGemm(const GemmArgs& g, int64_t m, int64_t vecs) {
  const size_t N = hn::Lanes(DF());
  for (int64_t v0 = 0; v0 < vecs; v0 += kVecs) {
    const int64_t nv = std::min<int64_t>(kVecs, vecs - v0);
    for (int64_t r0 = 0; r0 < m; r0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - r0);
      const int64_t col0 = v0 * static_cast<int64_t>(N);
      if (nv == kVecs) {
        MicroKernelRows<kVecs>(g, r0, rows, col0);
      } else if (nv == 3) {
        MicroKernelRows<3>(g, r0, rows, col0);
      } else if (nv == 2) {
        MicroKernelRows<2>(g, r0, rows, col0);
      } else {
        MicroKernelRows<1>(g, r0, rows, col0);
      }
    }
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_TILE_GEMM_INL_H_
