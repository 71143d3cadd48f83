// Data-parallel training over MPI (attn/dist/data_parallel.h).
#include "attn/dist/data_parallel.h"

#include <algorithm>
#include <climits>

#include "attn/core/error.h"

namespace attn::dist {

namespace {

// An element count as MPI's int; throws when it does not fit.
int mpi_count(int64_t n) {
  ATTN_CHECK(n >= 0 && n <= INT_MAX, "data parallel: ", n, " values exceed one message's count");
  return static_cast<int>(n);
}

// Segment w of W of n values: [start(w), start(w + 1)).
int64_t segment_start(int64_t n, int w, int workers) { return n * w / workers; }

}  // namespace

MpiGradientReducer::MpiGradientReducer(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
}

void MpiGradientReducer::sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) {
  const int64_t n = static_cast<int64_t>(sum.size());
  ATTN_CHECK(k >= 1 && parts.size() == static_cast<size_t>(k * n), "data parallel: ", parts.size(),
             " values are not ", k, " parts of ", n);
  const int W = size_;
  std::vector<int> send_counts(W), send_displs(W), recv_counts(W), recv_displs(W);
  const int64_t mine = segment_start(n, rank_ + 1, W) - segment_start(n, rank_, W);
  // To rank w: segment w of each of this rank's parts, part after part.
  send_.resize(parts.size());
  float* to = send_.data();
  for (int w = 0; w < W; ++w) {
    const int64_t begin = segment_start(n, w, W), end = segment_start(n, w + 1, W);
    send_displs[w] = mpi_count(to - send_.data());
    for (int64_t j = 0; j < k; ++j) {
      to = std::copy(parts.data() + j * n + begin, parts.data() + j * n + end, to);
    }
    send_counts[w] = mpi_count(k * (end - begin));
    recv_counts[w] = mpi_count(k * mine);
    recv_displs[w] = mpi_count(w * k * mine);
  }
  // From rank s: its parts s·k … s·k + k − 1 of this rank's segment, so the received rows are
  // in part order.
  received_.resize(static_cast<size_t>(W * k * mine));
  MPI_Alltoallv(send_.data(), send_counts.data(), send_displs.data(), MPI_FLOAT, received_.data(),
                recv_counts.data(), recv_displs.data(), MPI_FLOAT, comm_);
  segment_.resize(static_cast<size_t>(mine));
  if (mine > 0) train::sum_in_order(received_, W * k, segment_);
  for (int w = 0; w < W; ++w) {
    recv_counts[w] = mpi_count(segment_start(n, w + 1, W) - segment_start(n, w, W));
    recv_displs[w] = mpi_count(segment_start(n, w, W));
  }
  MPI_Allgatherv(segment_.data(), mpi_count(mine), MPI_FLOAT, sum.data(), recv_counts.data(),
                 recv_displs.data(), MPI_FLOAT, comm_);
}

void MpiGradientReducer::all_gather(std::span<const double> mine, std::span<double> all) {
  ATTN_CHECK(all.size() == mine.size() * static_cast<size_t>(size_), "data parallel: ", all.size(),
             " values for ", size_, " ranks of ", mine.size());
  const int m = mpi_count(static_cast<int64_t>(mine.size()));
  MPI_Allgather(mine.data(), m, MPI_DOUBLE, all.data(), m, MPI_DOUBLE, comm_);
}

void MpiGradientReducer::broadcast(std::span<double> values) {
  MPI_Bcast(values.data(), mpi_count(static_cast<int64_t>(values.size())), MPI_DOUBLE, 0, comm_);
}

}  // namespace attn::dist
