// The non-blocking messages of one ring step (ring_messages.h).
#include "dist/ring_messages.h"

namespace attn::dist {

void RingMessages::send(const void* buf, int count, MPI_Datatype type, int peer, int tag) {
  requests_.emplace_back();
  MPI_Isend(buf, count, type, peer, tag, comm_, &requests_.back());
}

void RingMessages::receive(void* buf, int count, MPI_Datatype type, int peer, int tag) {
  requests_.emplace_back();
  MPI_Irecv(buf, count, type, peer, tag, comm_, &requests_.back());
}

void RingMessages::poll() {
  if (requests_.empty()) return;
  const double start = MPI_Wtime();
  int done = 0;
  MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
  polled_seconds_ += MPI_Wtime() - start;
}

double RingMessages::wait() {
  double seconds = polled_seconds_;
  polled_seconds_ = 0.0;
  if (requests_.empty()) return seconds;
  const double start = MPI_Wtime();
  MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  requests_.clear();
  return seconds + MPI_Wtime() - start;
}

}  // namespace attn::dist
