// The public API of attn in one include.
#pragma once

#include "attn/attention.h"
#include "attn/attention_params.h"
#include "attn/decode.h"
#include "attn/dropout_mask.h"
#include "attn/error.h"
#include "attn/kv_cache.h"
#include "attn/npy.h"
#include "attn/reference.h"
#include "attn/simd.h"
#include "attn/tensor.h"
