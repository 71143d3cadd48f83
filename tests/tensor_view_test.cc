#include <cstdint>

#include "attn/core/attention_params.h"
#include "attn/core/error.h"
#include "attn/core/tensor.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

TEST(TensorView4, BhldAndBlhdViewTheSameElementAtTheirOwnOffsets) {
  float data[2 * 3 * 4 * 5] = {};
  const TensorView4 bhld = TensorView4::bhld(data, 2, 3, 4, 5);
  const TensorView4 blhd = TensorView4::blhd(data, 2, 3, 4, 5);
  EXPECT_EQ(bhld.stride.offset(1, 2, 3, 4), ((1 * 3 + 2) * 4 + 3) * 5 + 4);
  EXPECT_EQ(blhd.stride.offset(1, 2, 3, 4), ((1 * 4 + 3) * 3 + 2) * 5 + 4);
  EXPECT_EQ(bhld.heads, 3);
  EXPECT_EQ(blhd.len, 4);
}

TEST(TensorView4, TensorViewsItselfAsBhld) {
  Tensor t({2, 3, 4, 5});
  const TensorView4 v = t.view4();
  EXPECT_EQ(v.data, t.data());
  EXPECT_EQ(v.stride.offset(1, 1, 1, 1), t.strides4().offset(1, 1, 1, 1));
  const ConstTensorView4 c = v;
  EXPECT_EQ(c.dim, 5);
}

TEST(AttentionParamsOfViews, SizesAndStridesComeFromTheViews) {
  Tensor q({2, 8, 5, 16}), k({2, 7, 2, 16}), v({2, 7, 2, 12}), out({2, 5, 8, 12}), lse({2, 8, 5});
  const AttentionParams p = attention_params(
      q.view4(), TensorView4::blhd(k.data(), 2, 2, 7, 16), TensorView4::blhd(v.data(), 2, 2, 7, 12),
      TensorView4::blhd(out.data(), 2, 8, 5, 12), lse.data());
  EXPECT_EQ(p.batch, 2);
  EXPECT_EQ(p.q_heads, 8);
  EXPECT_EQ(p.kv_heads, 2);
  EXPECT_EQ(p.q_len, 5);
  EXPECT_EQ(p.kv_len, 7);
  EXPECT_EQ(p.head_dim, 16);
  EXPECT_EQ(p.v_head_dim, 12);
  EXPECT_EQ(p.k_stride.row, 2 * 16);
  EXPECT_EQ(p.out_stride.head, 12);
  EXPECT_EQ(p.lse_stride.offset(1, 2, 3, 0), (1 * 8 + 2) * 5 + 3);
  EXPECT_FALSE(p.causal);
  EXPECT_FALSE(p.scale.has_value());
  validate(p);
}

TEST(AttentionParamsOfViews, DisagreeingSizesThrow) {
  const ConstTensorView4 q = ConstTensorView4::bhld(nullptr, 1, 4, 5, 16);
  const ConstTensorView4 k = ConstTensorView4::bhld(nullptr, 1, 2, 7, 16);
  const ConstTensorView4 v = ConstTensorView4::bhld(nullptr, 1, 2, 7, 8);
  const TensorView4 out = TensorView4::bhld(nullptr, 1, 4, 5, 8);
  EXPECT_NO_THROW(attention_params(q, k, v, out));
  EXPECT_THROW(attention_params(q, ConstTensorView4::bhld(nullptr, 1, 2, 7, 12), v, out), Error);
  EXPECT_THROW(attention_params(q, k, ConstTensorView4::bhld(nullptr, 1, 2, 6, 8), out), Error);
  EXPECT_THROW(attention_params(q, k, v, TensorView4::bhld(nullptr, 1, 4, 5, 9)), Error);
  EXPECT_THROW(attention_params(q, k, v, TensorView4::bhld(nullptr, 2, 4, 5, 8)), Error);
}

}  // namespace
}  // namespace attn::testing
