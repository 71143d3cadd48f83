// The non-blocking messages of one ring step, and the time spent waiting for them.
#pragma once

#include <mpi.h>

#include <vector>

namespace attn::dist {

class RingMessages {
 public:
  explicit RingMessages(MPI_Comm comm) : comm_(comm) {}
  RingMessages(const RingMessages&) = delete;
  RingMessages& operator=(const RingMessages&) = delete;
  ~RingMessages() { wait(); }

  // count items of type from buf to / into rank peer.
  void send(const void* buf, int count, MPI_Datatype type, int peer, int tag);
  void receive(void* buf, int count, MPI_Datatype type, int peer, int tag);
  // Lets MPI move the messages along between two pieces of compute (MPI progresses only inside
  // its calls; with shared memory the receiver may copy a whole message here).
  void poll();
  // Blocks until every message posted so far is done; returns the seconds spent in MPI since
  // the last wait: this wait and the polls before it (time not hidden behind compute).
  double wait();

 private:
  MPI_Comm comm_;
  std::vector<MPI_Request> requests_;
  double polled_seconds_ = 0.0;
};

}  // namespace attn::dist
