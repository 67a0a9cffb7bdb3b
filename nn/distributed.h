// Data-parallel runs over several processes: Open MPI launches the ranks and
// carries the CPU collectives; NCCL carries the GPU ones (one GPU per rank,
// chosen by the local rank). There is no home-made transport.
//
//   mpirun -np 4 build/bin/dcsr train ...        (as root: see docs/scaling.md)
//
// Without MPI in the build, or in a process not started by mpirun, the world
// is one rank and every collective is a no-op: the binary runs as before.
//
// No collective waits forever. Each one is started non-blocking and polled
// against a deadline (DCSR_COLLECTIVE_TIMEOUT seconds, default 120); when a
// rank has died or hangs, the others print one line naming the collective and
// abort the whole job (MPI_Abort), so a job never hangs on a lost rank.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr::distributed {

struct World {
  int rank = 0, size = 1;
  int local_rank = 0;  // rank among the processes on this node (picks the GPU)
  bool is_root() const { return rank == 0; }
};

// Starts MPI when the build has it and mpirun started this process (its
// environment says so); else leaves a world of one. Call once, first thing in
// main. finalize() as main returns, before the CUDA runtime's own teardown
// (also registered with atexit by init, for other exits; a second call does
// nothing).
void init(int* argc, char*** argv);
void finalize();
bool mpi_built();
const World& world();
// Ends every rank at once with `status` when this is a multi-rank job (a rank
// that fails must not leave the others waiting); a no-op for one rank.
void abort_all(int status);

// The share [begin, end) of `total` items that this rank takes: contiguous,
// sizes differing by at most one, rank order.
void share(int64_t total, int64_t& begin, int64_t& end);

// Sums a float32 or float64 tensor over the ranks, in place (every rank gets
// the sum). CPU tensors go through MPI_Iallreduce; CUDA tensors through NCCL
// on the default stream.
void allreduce_sum(Tensor& t);
// The same on plain host doubles (losses, metric sums).
void allreduce_sum(std::vector<double>& values);

// Averages the gradients of `params` over the ranks with one allreduce over a
// flat buffer (packed, reduced, unpacked). Every rank must pass the same
// parameters in the same order; a parameter without a gradient on every rank
// counts as zero. Gradients of the local shard must already be scaled so that
// their sum over the ranks is the global batch's gradient (see the trainer).
void allreduce_gradients(const std::vector<Tensor>& params);

// Differentiable sum over the ranks (autograd op "allreduce_sum"): the
// forward sums x over the ranks, the backward sums the incoming gradients
// over the ranks (the total loss is the sum of the ranks' losses, and each
// depends on every rank's x). Every rank must call it, in the same order, in
// the forward and in the backward. One rank: the identity.
Tensor allreduce_sum_op(const Tensor& x);

// The mean of y (N, C, H, W) over the batch and all positions, (1, C, 1, 1),
// taken over the whole global batch of a data-parallel step (the shares of
// all ranks), differentiable: the statistic the contextual loss centres its
// features with (dcsr-spec §9.2). One rank: mean(y, {0, 2, 3}, true), exactly.
Tensor global_batch_channel_mean(const Tensor& y);

// A rank whose share of a short last batch is empty still runs the step on a
// stand-in sample with weight 0, so that it joins every collective of the
// forward and backward; while this is set, its samples count for nothing in
// global_batch_channel_mean.
void set_stand_in_share(bool stand_in);

// Root's value of `value` on every rank.
void broadcast(std::string& value);
// Every rank's string, in rank order, on the root; empty elsewhere.
std::vector<std::string> gather(const std::string& mine);
// Waits until every rank gets here (with the same deadline as the collectives).
void barrier();

// Seconds a collective may take before the job is aborted.
double collective_timeout_s();

// ---- Messages, for ranks that work at their own pace between collectives
// (dcsr sr on folders: dcsr/inference/shard_reports.h). Short tagged strings
// between two ranks; messages from one rank arrive in the order sent. A
// world of one rank has no one to talk to: these must not be called there.

// Sends `text` to rank `to` without waiting; the text is kept until it is
// delivered (complete_sends).
void send(int to, int tag, const std::string& text);
// One message that has arrived from any rank, with any tag: true and fills
// from/tag/text; false at once when none is there.
bool poll_receive(int& from, int& tag, std::string& text);
// Waits (with the collective deadline) until every message this rank sent
// has been received.
void complete_sends();
// Ends the job as abort_job does (one line naming `what`, then MPI_Abort).
[[noreturn]] void abort_job_after_timeout(const std::string& what);

// Every rank has agreed on the exit status through a collective (sharded sr:
// 4 when a pair was skipped): then a non-zero status is not a failure of one
// rank and abort_all does nothing; each rank exits with that status.
void set_exit_status_agreed();

// DCSR_COLLECTIVES_ALWAYS=1 under mpirun: the collectives of allreduce_sum
// and allreduce_gradients run even in a world of one rank, through MPI on the
// CPU and NCCL on CUDA, so that one GPU can check the NCCL path
// (tools/gpu_check.sh). Off by default; no effect without mpirun. At exit
// each rank prints how many allreduces went through MPI or NCCL.
bool collectives_always();

}  // namespace dcsr::distributed
